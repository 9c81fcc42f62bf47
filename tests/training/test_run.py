"""TrainingRun: restore or initialise, steps, the NaN guards, validation, closing."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_recipe
from tfdeeplab.catalog.palettes import voc_palette
from tfdeeplab.run_directory import RunDirectory
from tfdeeplab.training.builder import build_training_state
from tfdeeplab.training.run import TrainingDiverged, TrainingRun, weights_fingerprint
from tfdeeplab.training.summaries import TensorBoardSummaries


def open_run(tmp_path, *overrides, chief=True):
    recipe = tiny_recipe(tmp_path / "no_data", *overrides)
    state = build_training_state(recipe, tf.distribute.get_strategy())
    directory = RunDirectory(tmp_path / "run")
    return TrainingRun(
        state,
        directory,
        chief=chief,
        keep_checkpoints=2,
        summaries=TensorBoardSummaries(None, []),
        validation_data=None,
        num_classes=21,
        palette=voc_palette(),
    )


def batch(label=1, size=33):
    rng = np.random.default_rng(label)
    images = tf.constant(rng.normal(size=(2, size, size, 3)), tf.float32)
    return images, tf.fill([2, size, size], label)


def test_a_new_run_starts_from_its_initialisation_and_a_saved_one_resumes(tmp_path):
    run = open_run(tmp_path)
    assert run.restore_or_initialise() == [] and run.step == 0
    loss = run.train_step(batch(), 1)
    assert math.isfinite(loss) and run.step == 1
    run.train_step(batch(), 2)
    run.save(2)
    fingerprint = weights_fingerprint(run.state.model)
    run.close()

    again = open_run(tmp_path)
    lines = again.restore_or_initialise()
    assert lines == [f"resumed from {tmp_path / 'run/checkpoints/ckpt-2'} at step 2"]
    assert again.step == 2 and weights_fingerprint(again.state.model) == fingerprint
    assert again.latest_checkpoint.endswith("ckpt-2")


def test_initial_weights_are_used_only_without_a_checkpoint(tmp_path):
    source = open_run(tmp_path / "source")
    weights = tmp_path / "start.weights.h5"
    source.state.model.save_weights(str(weights))
    run = open_run(tmp_path)
    [line] = run.restore_or_initialise(str(weights))
    assert line.startswith(f"initial weights from {weights}: ")
    assert weights_fingerprint(run.state.model) == weights_fingerprint(
        source.state.model
    )


def test_a_non_finite_loss_stops_without_counting_the_step(tmp_path):
    run = open_run(
        tmp_path,
        "train.schedule.steps=[[5, 1.0e+30], [8, 1.0]]",
        "model.head_bias_lr_multiplier=1.0e+10",
    )
    run.train_step(batch(), 1)  # the update overflows the weights; the loss is finite
    with pytest.raises(TrainingDiverged, match="weights became NaN or Inf at step 1"):
        run.save(1)
    assert run.latest_checkpoint == "none"
    expected = "loss became nan at step 2; stopped without saving, the newest "
    with pytest.raises(TrainingDiverged, match=expected + "checkpoint is still none"):
        run.train_step(batch(), 2)
    assert run.step == 1


def test_validation_only_with_data_on_the_chief(tmp_path):
    assert open_run(tmp_path).validate(1) is None  # no validation data
    worker = open_run(tmp_path, chief=False)
    worker.validation_data = tf.data.Dataset.range(1)
    assert worker.validate(1) is None  # workers never validate
