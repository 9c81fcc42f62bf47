"""The run directory's layout, as evaluation and export will find it."""

import tensorflow as tf

from tfdeeplab.run_directory import RunDirectory


def test_paths_and_the_newest_checkpoint(tmp_path):
    run = RunDirectory(str(tmp_path / "runs" / "voc"))
    assert run.recipe == tmp_path / "runs/voc/recipe.yaml"
    assert run.checkpoints == tmp_path / "runs/voc/checkpoints"
    assert run.tensorboard == tmp_path / "runs/voc/tensorboard"
    assert run.latest_checkpoint() is None  # nothing there yet

    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(weight=tf.Variable(1.0)), str(run.checkpoints), 3
    )
    for step in (10, 20):
        manager.save(checkpoint_number=step)
    assert run.latest_checkpoint() == str(run.checkpoint(20))
    assert run.checkpoint(20) == tmp_path / "runs/voc/checkpoints/ckpt-20"
