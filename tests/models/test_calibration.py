"""Calibrated frozen BatchNorm: each layer's statistics are those of its input."""

import keras
import numpy as np
import tensorflow as tf

from tests.helpers import tiny_model
from tfdeeplab.models import build_model
from tfdeeplab.models.calibration import calibrate_batch_norm, frozen_batch_norms


def test_every_frozen_batch_norm_takes_its_inputs_statistics():
    keras.utils.set_random_seed(0)
    model = build_model(tiny_model())
    images = tf.constant(np.random.default_rng(0).normal(size=(2, 65, 65, 3)),
                         tf.float32)  # fmt: skip
    before = float(tf.reduce_max(tf.abs(model(images))))
    layers = frozen_batch_norms(model)
    # A 2-2-2-2 ResNet: the stem's BN, 3 per unit and 1 per stage's shortcut.
    assert calibrate_batch_norm(model, images) == len(layers) == 1 + 3 * 8 + 4
    assert not any(layer.calibrating for layer in layers)
    # Checked afterwards, from outside: the inputs each layer now receives.
    probe = keras.Model(model.input, [layer.input for layer in layers])
    for layer, features in zip(layers, probe(images), strict=True):
        features = features.numpy().reshape(-1, features.shape[-1])
        np.testing.assert_allclose(layer.moving_mean.numpy(), features.mean(0),
                                   rtol=1e-3, atol=1e-3 * features.std())  # fmt: skip
        np.testing.assert_allclose(layer.moving_variance.numpy(), features.var(0),
                                   rtol=1e-3, atol=1e-6)  # fmt: skip
    after = float(tf.reduce_max(tf.abs(model(images))))
    assert after < before / 10 and after < 10, (before, after)
