"""Multipliers change the update as SPEC §3 says; frozen weights never move."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny
from tfdeeplab.config import TrainConfig
from tfdeeplab.models import build_model, weight_multipliers
from tfdeeplab.training.builder import build_optimizer
from tfdeeplab.training.losses import segmentation_loss
from tfdeeplab.training.optimizer import scale_gradients

LR, WD = 0.1, 0.01


def one_step(model, optimizer, images, labels, weight_decay=WD):
    multipliers = weight_multipliers(model)
    with tf.GradientTape() as tape:
        loss = segmentation_loss(labels, model(images, training=True))
    variables = model.trainable_variables
    gradients = tape.gradient(loss, variables)
    scaled = scale_gradients(gradients, variables, multipliers, weight_decay)
    optimizer.apply_gradients(zip(scaled, variables, strict=True))
    return dict(zip([v.path for v in variables], gradients, strict=True))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2, 33, 33, 3)).astype("float32"), rng.integers(
        0, 5, size=(2, 33, 33)
    )


def test_updates_follow_multipliers(tiny_model_config, batch):
    model = build_model(
        tiny(
            tiny_model_config,
            head_kernel_lr_multiplier=10.0,
            head_bias_lr_multiplier=20.0,
        )
    )
    optimizer = build_optimizer(TrainConfig(momentum=0.0), LR)
    before = {v.path: v.numpy().copy() for v in model.weights}
    gradients = one_step(model, optimizer, *batch)
    after = {v.path: v.numpy() for v in model.weights}

    def update(path):
        return after[path] - before[path]

    # head bias: x20, no decay
    np.testing.assert_allclose(
        update("score/bias"),
        -LR * 20 * gradients["score/bias"].numpy(),
        rtol=1e-5,
        atol=1e-9,
    )
    # head kernel: x10 with decay
    expected = (
        -LR * 10 * (gradients["score/kernel"].numpy() + WD * before["score/kernel"])
    )
    np.testing.assert_allclose(
        update("score/kernel"), expected, rtol=1e-4, atol=2e-8
    )  # w_new - w_old loses float32 digits
    # backbone kernel: x1 with decay
    expected = -LR * (
        gradients["res4a_branch2a/kernel"].numpy()
        + WD * before["res4a_branch2a/kernel"]
    )
    np.testing.assert_allclose(
        update("res4a_branch2a/kernel"), expected, rtol=1e-4, atol=2e-8
    )  # w_new - w_old loses float32 digits


def test_frozen_weights_are_bit_identical_after_training(tiny_model_config, batch):
    model = build_model(tiny_model_config)
    optimizer = build_optimizer(TrainConfig(momentum=0.9), LR)
    frozen = {v.path: v.numpy().copy() for v in model.non_trainable_weights}
    assert any(path.startswith("conv1") for path in frozen)
    assert any(
        path.startswith("bn") and path.endswith("moving_mean") for path in frozen
    )
    trained = model.get_layer("res3a_branch2a").kernel.numpy().copy()
    for _ in range(3):
        one_step(model, optimizer, *batch)
    for variable in model.non_trainable_weights:
        np.testing.assert_array_equal(variable.numpy(), frozen[variable.path])
    assert not np.array_equal(model.get_layer("res3a_branch2a").kernel.numpy(), trained)


def test_momentum_matches_mxnet_sgd():
    variable = tf.Variable([1.0, -2.0])
    optimizer = build_optimizer(TrainConfig(momentum=0.9), 0.5)
    momentum = np.zeros(2)
    weight = np.array([1.0, -2.0])
    for gradient in ([0.1, 0.2], [-0.3, 0.4], [0.05, 0.0]):
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
        momentum = 0.9 * momentum - 0.5 * np.array(gradient)
        weight = weight + momentum
        np.testing.assert_allclose(variable.numpy(), weight, rtol=1e-6)


def test_missing_multipliers_are_an_error():
    variable = keras.Variable([1.0], name="stray")
    with pytest.raises(KeyError, match="stray"):
        scale_gradients([tf.constant([1.0])], [variable], {}, WD)


def test_a_skipped_float16_step_does_not_shift_the_schedule():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [1, 2], [1.0, 0.5, 0.25]
    )
    step = tf.Variable(0, dtype=tf.int64)
    optimizer = build_optimizer(
        TrainConfig(momentum=0.0, mixed_precision="mixed_float16"), schedule, step
    )
    variable = tf.Variable([1.0])
    optimizer.build([variable])
    for gradient in (np.inf, 1.0, 1.0):  # the loss scaler skips the overflowed one
        scaled = gradient * float(optimizer.dynamic_scale)  # as a scaled loss gives
        optimizer.apply_gradients([(tf.constant([scaled]), variable)])
        step.assign_add(1)
    assert int(optimizer.iterations) == 2  # Keras counts applied updates only
    assert float(optimizer.learning_rate) == 0.25  # schedule(3): the run's step
    # Updates at steps 1 and 2 (0-based) with schedule(1) = 1.0 and schedule(2) = 0.5;
    # counting by iterations would have used schedule(0) and schedule(1), both 1.0.
    np.testing.assert_allclose(variable.numpy(), [1.0 - 1.0 - 0.5])
