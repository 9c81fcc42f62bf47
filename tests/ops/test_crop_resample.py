"""The CropResample and CropLabels kernels against their TensorFlow references."""

import numpy as np
import pytest
import tensorflow as tf

from tfdeeplab.ops.crop_resample import (
    crop_labels,
    crop_labels_reference,
    crop_resample,
    crop_resample_available,
    crop_resample_reference,
)


def random_case(rng, crop=(23, 17)):
    window = tf.constant(rng.integers(0, 256, size=(19, 26, 3)), tf.uint8)
    # Coordinates past both borders, to exercise the clamping, and some padding.
    rows = tf.constant(rng.uniform(-1.5, 20.0, crop[0]), tf.float32)
    cols = tf.constant(
        np.sort(rng.uniform(-1.5, 27.0, crop[1]))[::-1].copy(), tf.float32
    )
    valid_rows = tf.constant(rng.random(crop[0]) > 0.2)
    valid_cols = tf.constant(rng.random(crop[1]) > 0.2)
    mean = tf.constant([104.0, 116.0, 122.0])
    return window, rows, cols, valid_rows, valid_cols, mean


def test_kernel_builds_here():
    assert crop_resample_available()


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("reverse_channels", [True, False])
def test_kernel_matches_reference(bilinear, reverse_channels):
    rng = np.random.default_rng(int(bilinear) * 2 + int(reverse_channels))
    for _ in range(5):
        case = random_case(rng)
        options = dict(
            bilinear=bilinear, reverse_channels=reverse_channels, pad_value=200.0
        )
        got = crop_resample(*case, **options).numpy()
        want = crop_resample_reference(*case, **options).numpy()
        assert got.shape == (23, 17, 3)
        np.testing.assert_allclose(got, want, atol=2e-3)
    assert np.any(got == 200.0 - case[5].numpy()[0])  # padding was exercised


def test_kernel_rejects_bad_shapes():
    window, rows, cols, valid_rows, valid_cols, mean = random_case(
        np.random.default_rng(0)
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"window must be \[h, w, 3\]"
    ):
        crop_resample(window[..., :2], rows, cols, valid_rows, valid_cols, mean)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one length"):
        crop_resample(window, rows, cols, valid_rows[:3], valid_cols, mean)


def test_label_kernel_matches_reference():
    rng = np.random.default_rng(5)
    label = tf.constant(rng.integers(0, 21, size=(19, 26, 1)), tf.uint8)
    rows = tf.constant(rng.integers(-2, 22, 23), tf.int32)  # out of range: clamped
    cols = tf.constant(rng.integers(-2, 29, 17), tf.int32)
    valid_rows = tf.constant(rng.random(23) > 0.2)
    valid_cols = tf.constant(rng.random(17) > 0.2)
    args = (label, rows, cols, valid_rows, valid_cols)
    got = crop_labels(*args, pad_value=254).numpy()
    np.testing.assert_array_equal(
        got, crop_labels_reference(*args, pad_value=254).numpy()
    )
    assert got.dtype == np.int32 and np.any(got == 254) and np.any(got < 21)
