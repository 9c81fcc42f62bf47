"""Loss: ignore label, valid-pixel mean, multi-scale sum."""

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny
from tfdeeplab.models import build_model
from tfdeeplab.training.losses import (
    resize_labels,
    segmentation_loss,
    valid_pixel_cross_entropy,
)


def numpy_loss(labels, logits, ignore=255):
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    valid = labels != ignore
    picked = np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[
        ..., 0
    ]
    return -(picked * valid).sum() / valid.sum()


def test_valid_pixel_mean_ignores_255():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 6, 4)).astype("float32")
    labels = rng.integers(0, 4, size=(2, 5, 6))
    labels[0, :2] = 255
    got = float(valid_pixel_cross_entropy(labels, logits))
    assert got == pytest.approx(numpy_loss(labels, logits), rel=1e-5)
    # Changing the logits of ignored pixels changes nothing.
    logits[0, :2] += 100.0
    assert float(valid_pixel_cross_entropy(labels, logits)) == pytest.approx(
        got, rel=1e-5
    )


def test_all_ignored_is_zero_not_nan():
    logits = np.zeros((1, 2, 2, 3), "float32")
    assert float(valid_pixel_cross_entropy(np.full((1, 2, 2), 255), logits)) == 0.0


def test_resize_labels_is_nearest():
    labels = tf.constant(np.arange(16).reshape(1, 4, 4), tf.int32)
    np.testing.assert_array_equal(
        resize_labels(labels, (2, 2)).numpy(), [[[5, 7], [13, 15]]]
    )


def test_msc_loss_sums_every_scale(tiny_model_config):
    model = build_model(
        tiny(tiny_model_config, msc_scales=(1.0, 0.5)), include_scale_logits=True
    )
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 65, 65, 3)).astype("float32")
    labels = tf.constant(rng.integers(0, 5, size=(2, 65, 65)), tf.int32)
    outputs = model(images)
    total = float(segmentation_loss(labels, outputs))
    parts = [
        float(valid_pixel_cross_entropy(labels, outputs["logits"])),
        float(valid_pixel_cross_entropy(labels, outputs["scale_0"])),
        float(
            valid_pixel_cross_entropy(
                resize_labels(labels, (33, 33)), outputs["scale_1"]
            )
        ),
    ]
    assert outputs["scale_1"].shape[1:3] == (33, 33)
    assert total == pytest.approx(sum(parts), rel=1e-5)
    single = float(segmentation_loss(labels, outputs["logits"]))
    assert single == pytest.approx(parts[0], rel=1e-6)
