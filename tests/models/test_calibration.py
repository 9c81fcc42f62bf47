"""Calibrated frozen BatchNorm: each layer's statistics are those of its input, from
enough values to be a well-conditioned layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny, tiny_model
from tfdeeplab.models import build_model
from tfdeeplab.models.calibration import (
    MIN_VALUES_PER_CHANNEL,
    CalibrationError,
    calibrate_batch_norm,
    calibration_images,
    frozen_batch_norms,
)


def test_every_frozen_batch_norm_takes_its_inputs_statistics():
    keras.utils.set_random_seed(0)
    model = build_model(tiny_model())
    images = tf.constant(
        np.random.default_rng(0).normal(size=(2, 129, 129, 3)), tf.float32
    )
    before = float(tf.reduce_max(tf.abs(model(images))))
    layers = frozen_batch_norms(model)
    # A 2-2-2-2 ResNet: the stem's BN, 3 per unit and 1 per stage's shortcut.
    assert calibrate_batch_norm(model, images) == len(layers) == 1 + 3 * 8 + 4
    assert not any(layer.calibrating for layer in layers)
    # Checked afterwards, from outside: the inputs each layer now receives.
    probe = keras.Model(model.input, [layer.input for layer in layers])
    for layer, features in zip(layers, probe(images), strict=True):
        features = features.numpy().reshape(-1, features.shape[-1])
        assert layer.calibration_values == features.shape[0]
        np.testing.assert_allclose(
            layer.moving_mean.numpy(),
            features.mean(0),
            rtol=1e-3,
            atol=1e-3 * features.std(),
        )
        np.testing.assert_allclose(
            layer.moving_variance.numpy(), features.var(0), rtol=1e-3, atol=1e-6
        )
    after = float(tf.reduce_max(tf.abs(model(images))))
    assert after < before / 10 and after < 10, (before, after)


def test_a_batch_too_small_for_the_statistics_is_refused():
    model = build_model(tiny_model())
    # 2 images of 65x65: res5 (output stride 16) is 4x4, 32 values a channel.
    small = np.zeros((2, 65, 65, 3), np.float32)
    with pytest.raises(CalibrationError) as raised:
        calibrate_batch_norm(model, small)
    message = str(raised.value)
    assert "(2, 65, 65, 3)" in message and "bn5" in message
    assert f"sees 32 values of each channel, fewer than {MIN_VALUES_PER_CHANNEL}" in (
        message
    )


@pytest.mark.parametrize("side", [33, 400])
def test_calibration_images_are_large_enough_at_any_output_stride(side):
    images = calibration_images(side, side)
    assert images.shape == (2, max(side, 257), max(side, 257), 3)
    for stride in (8, 16, 32):
        model = build_model(tiny(tiny_model(), output_stride=stride))
        calibrate_batch_norm(model, images)  # raises when too small
