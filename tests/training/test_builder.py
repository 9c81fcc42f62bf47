"""The training builder: what a recipe and a strategy make."""

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_recipe
from tfdeeplab.training.builder import build_training_state
from tfdeeplab.training.step import TrainStep


def test_state_under_two_replicas(tmp_path, two_replicas):
    schedule = "train.schedule.steps=[[1, 0.5], [2, 0.25]]"
    recipe = tiny_recipe(
        tmp_path,
        "train.max_steps=0",
        "train.epoch_scale=2",
        "train.end_epoch=2",
        schedule,
    )
    state = build_training_state(recipe, two_replicas)
    assert state.global_batch == 2 * 2  # per replica times replicas
    per_epoch = (16 // 4) * 2  # SPEC §3: floor(images / global batch) * scale
    assert state.total_steps == 2 * per_epoch
    assert isinstance(state.train_step, TrainStep)
    assert state.train_step.strategy is two_replicas
    assert int(state.step.numpy()) == 0 and state.learning_rate == 0.5
    state.step.assign(per_epoch)  # the rate follows the run's step
    assert state.learning_rate == 0.25
    assert {v.path for v in state.optimizer.variables} and state.model.built


def test_the_seed_makes_the_initial_weights(tmp_path):
    strategy = tf.distribute.get_strategy()

    def weights(seed):
        state = build_training_state(
            tiny_recipe(tmp_path, f"train.seed={seed}"), strategy
        )
        return state.model.get_layer("score").kernel.numpy()

    np.testing.assert_array_equal(weights(3), weights(3))
    assert not np.array_equal(weights(3), weights(4))


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_reaches_model_and_optimizer(tmp_path, precision):
    recipe = tiny_recipe(tmp_path, f"train.mixed_precision={precision}")
    state = build_training_state(recipe, tf.distribute.get_strategy())
    assert state.model.get_layer("score").compute_dtype == precision.split("_")[1]
    scaled = type(state.optimizer).__name__ == "LossScaleOptimizer"
    assert scaled == (precision == "mixed_float16")
