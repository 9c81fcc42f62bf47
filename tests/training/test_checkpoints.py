"""Run checkpoints: save and restore, keep the newest, workers write to scratch."""

import tensorflow as tf

from tfdeeplab.training.checkpoints import (
    RunCheckpoints,
    checkpoint_steps,
    indexed_step,
    write_index,
)


def test_save_restore_and_keep_the_newest(tmp_path):
    weight = tf.Variable([1.0, 2.0])
    step = tf.Variable(0, dtype=tf.int64)
    checkpoints = RunCheckpoints(tmp_path, 2, True, weight=weight, step=step)
    assert checkpoints.latest is None and checkpoints.restore_latest() is None
    for number in (1, 2, 3):
        weight.assign([number, -number])
        step.assign(number)
        checkpoints.save(number)
    assert checkpoints.latest == str(tmp_path / "ckpt-3")
    kept = sorted(p.name for p in tmp_path.glob("*.index"))
    assert kept == ["ckpt-2.index", "ckpt-3.index"]

    fresh_weight = tf.Variable([0.0, 0.0])
    fresh_step = tf.Variable(0, dtype=tf.int64)
    again = RunCheckpoints(tmp_path, 2, True, weight=fresh_weight, step=fresh_step)
    assert again.restore_latest() == str(tmp_path / "ckpt-3")
    assert fresh_weight.numpy().tolist() == [3.0, -3.0] and int(fresh_step) == 3


def test_workers_read_the_chiefs_checkpoints_and_write_to_scratch(tmp_path):
    weight = tf.Variable([5.0])
    RunCheckpoints(tmp_path, 3, True, weight=weight).save(4)
    chief_files = sorted(p.name for p in tmp_path.iterdir())

    worker_weight = tf.Variable([0.0])
    worker = RunCheckpoints(tmp_path, 3, False, weight=worker_weight)
    assert worker.restore_latest() == str(tmp_path / "ckpt-4")
    assert worker_weight.numpy().tolist() == [5.0]
    scratch = worker._writer.directory
    assert worker.save(5) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == chief_files
    worker.close()
    assert not tf.io.gfile.exists(scratch)


def test_a_rewritten_index_is_one_tensorflow_reads(tmp_path):
    weight = tf.Variable([1.0])
    checkpoints = RunCheckpoints(tmp_path, 3, True, weight=weight)
    for step in (5, 10):
        checkpoints.save(step)
    (tmp_path / "checkpoint").unlink()
    assert indexed_step(tmp_path) is None and checkpoint_steps(tmp_path) == [10, 5]
    write_index(tmp_path, [5, 10])
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == str(tmp_path / "ckpt-10")
    assert list(state.all_model_checkpoint_paths) == [
        str(tmp_path / "ckpt-5"),
        str(tmp_path / "ckpt-10"),
    ]
    assert indexed_step(tmp_path) == 10
