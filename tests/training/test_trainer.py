"""The training loop: run directory, resume, TensorBoard, NaN guard, CLI errors."""

import math
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_recipe
from tfdeeplab import train as train_cli
from tfdeeplab.config import load_recipe
from tfdeeplab.experiment import train
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.training.run import TrainingDiverged


def event_tags(directory: Path) -> set:
    tags = set()
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {value.tag for value in event.summary.value}
    return tags


def test_a_run_writes_its_directory_and_a_second_run_resumes_at_the_end(
    demo_shards, tmp_path, two_replicas
):
    recipe = tiny_recipe(demo_shards)
    lines = []
    summary = train(
        recipe, tmp_path, strategy=two_replicas, progress=False, log=lines.append
    )

    assert (summary.start_step, summary.end_step, summary.total_steps) == (0, 6, 6)
    assert summary.replicas == 2 and summary.global_batch == 4
    assert math.isfinite(summary.final_loss) and summary.images_per_second > 0
    assert summary.validation["images"] == 2
    assert any("designed for 1 replica" in line for line in lines)
    progress = [line.split("  ")[0] for line in lines if line.startswith("step ")]
    assert progress[:6] == [f"step {n}/6" for n in range(1, 7)]  # log_every=1
    assert load_recipe(tmp_path / "recipe.yaml") == recipe
    index = tf.train.get_checkpoint_state(str(tmp_path / "checkpoints"))
    assert [Path(p).name for p in index.all_model_checkpoint_paths] == [
        "ckpt-2",
        "ckpt-4",
        "ckpt-6",
    ]
    tags = event_tags(tmp_path / "tensorboard")
    assert {"train/loss", "train/learning_rate", "train/images_per_second"} <= tags
    assert {"validation/miou", "validation/input_truth_prediction"} <= tags
    assert any(tag.startswith("validation_class_iou/") for tag in tags)

    again = train(
        recipe, tmp_path, strategy=two_replicas, progress=False, log=lines.append
    )
    assert (again.start_step, again.end_step) == (6, 6)
    assert again.weights_fingerprint == summary.weights_fingerprint
    assert any(line.startswith("resumed from") for line in lines)


def test_a_longer_schedule_continues_from_the_checkpoint(demo_shards, tmp_path):
    """Raising max_steps on a finished run trains on from its last step."""
    strategy = tf.distribute.get_strategy()
    train(
        tiny_recipe(demo_shards, "train.max_steps=2"),
        tmp_path,
        strategy=strategy,
        progress=False,
        log=lambda _: None,
    )
    more = train(
        tiny_recipe(demo_shards, "train.max_steps=4"),
        tmp_path,
        strategy=strategy,
        progress=False,
        log=lambda _: None,
    )
    assert (more.start_step, more.end_step) == (2, 4)


def test_a_diverging_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(
    demo_shards, tmp_path
):
    quiet = dict(progress=False, log=lambda _: None)
    # 8 steps per epoch: a sane rate for steps 1-2 (ckpt-2), then an absurd one that
    # blows the weights up in step 3; the loss or the weights (checked before every
    # checkpoint) stop being finite. Frozen BN: trained BN would renormalise them.
    recipe = tiny_recipe(
        demo_shards,
        "model.batch_norm=frozen",
        "train.schedule.steps=[[0.25, 1.0e-3], [8, 1.0e+30]]",
    )
    with pytest.raises(TrainingDiverged) as raised:
        train(recipe, tmp_path, **quiet)
    message = str(raised.value)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    stopped = re.match(r"(loss|weights) became \S+( or Inf)? at step (\d+);", message)
    assert stopped and 3 <= int(stopped[3]) <= 6
    assert latest.endswith("ckpt-2") and latest in message
    reader = tf.train.load_checkpoint(latest)
    weights = [
        reader.get_tensor(name)
        for name, _ in tf.train.list_variables(latest)
        if name.startswith("model/")
    ]
    assert weights and all(np.isfinite(w).all() for w in weights)


def test_overflowed_weights_are_never_checkpointed(demo_shards, tmp_path):
    # Score biases step by lr * 1e10 * gradient; with |gradient| near 1/21 for the
    # absent classes that overflows float32 in step 1, while step 1's loss is fine.
    recipe = tiny_recipe(
        demo_shards,
        "train.checkpoint_every=1",
        "model.head_bias_lr_multiplier=1.0e+10",
        "train.schedule.steps=[[5, 1.0e+30], [8, 1.0]]",
    )
    with pytest.raises(TrainingDiverged, match="weights became NaN or Inf at step 1"):
        train(recipe, tmp_path, progress=False, log=lambda _: None)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")) is None


def test_cli_errors_are_one_line_naming_what_is_wrong(demo_shards, tmp_path, capsys):
    missing = tmp_path / "no_shards"
    code = train_cli.main(
        [
            str(RECIPE),
            "--workdir",
            str(tmp_path / "run"),
            "--set",
            f"data.root={missing}",
            "--no-progress",
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert str(missing / "train_aug-*-of-*.tfrecord") in error
    assert "python -m tfrecords_tools.voc" in error

    code = train_cli.main([str(RECIPE), "--set", "train.batch_size=0"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "train.batch_size" in error and len(error.splitlines()) == 1

    weights = tmp_path / "imagenet.npz"
    code = train_cli.main(
        [str(RECIPE), "--workdir", str(tmp_path / "run"), "--init", str(weights)]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and str(weights) in error and "not found" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("signal_at, end_step", [(3, 3), (6, 6)])
def test_a_signal_stops_after_its_step_with_a_checkpoint_unless_the_run_is_done(
    demo_shards, tmp_path, signal_at, end_step
):
    def log(line):  # called during step `signal_at`, before the loop checks for stops
        if line.startswith(f"step {signal_at}/6 "):
            signal.raise_signal(signal.SIGTERM)

    summary = train(
        tiny_recipe(demo_shards, "train.checkpoint_every=100"),
        tmp_path,
        progress=False,
        log=log,
    )
    assert summary.end_step == end_step
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith(f"ckpt-{end_step}")
    if end_step < 6:
        assert summary.stopped_by == "SIGTERM" and summary.validation is None
        assert "train/loss" in event_tags(tmp_path / "tensorboard")
        assert "(stopped by SIGTERM)" in summary.format()
    else:  # the last step: the run is complete and validates as usual
        assert summary.stopped_by == "" and summary.validation["images"] == 2
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
