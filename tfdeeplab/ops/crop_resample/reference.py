"""CropResample and CropLabels in plain TensorFlow ops: the reference definitions.

The C++ kernels (`crop_resample_op.cc`, loaded by `kernel.py`) compute the same
numbers; tests hold them equal, and the input pipeline falls back to these functions
where no C++ compiler is available.
"""

from __future__ import annotations

import tensorflow as tf


def _taps(coords: tf.Tensor, size: tf.Tensor, bilinear: bool):
    if bilinear:
        floor = tf.floor(coords)
        base = tf.cast(floor, tf.int32)
        return (
            tf.clip_by_value(base, 0, size - 1),
            tf.clip_by_value(base + 1, 0, size - 1),
            coords - floor,
        )
    index = tf.clip_by_value(tf.cast(tf.floor(coords + 0.5), tf.int32), 0, size - 1)
    return index, index, tf.zeros_like(coords)


def crop_resample_reference(
    window: tf.Tensor,
    rows: tf.Tensor,
    cols: tf.Tensor,
    valid_rows: tf.Tensor,
    valid_cols: tf.Tensor,
    mean: tf.Tensor,
    *,
    bilinear: bool = True,
    reverse_channels: bool = True,
    pad_value: float = 255.0,
) -> tf.Tensor:
    """CropResample in plain TensorFlow ops, the definition the kernel must match.

    Arguments and result as `tfdeeplab.ops.crop_resample.crop_resample`.
    """
    shape = tf.shape(window)
    low_r, high_r, weight_r = _taps(rows, shape[0], bilinear)
    low_c, high_c, weight_c = _taps(cols, shape[1], bilinear)
    image = tf.cast(window, tf.float32)
    top = tf.gather(image, low_r)
    blended = top + (tf.gather(image, high_r) - top) * weight_r[:, None, None]
    left = tf.gather(blended, low_c, axis=1)
    crop = left + (tf.gather(blended, high_c, axis=1) - left) * weight_c[None, :, None]
    inside = valid_rows[:, None, None] & valid_cols[None, :, None]
    crop = tf.where(inside, crop, pad_value)
    if reverse_channels:
        crop = tf.reverse(crop, [-1])
    return crop - mean


def crop_labels_reference(
    label: tf.Tensor,
    rows: tf.Tensor,
    cols: tf.Tensor,
    valid_rows: tf.Tensor,
    valid_cols: tf.Tensor,
    *,
    pad_value: int = 255,
) -> tf.Tensor:
    """CropLabels in plain TensorFlow ops: the definition the kernel is tested against.

    Arguments and result as `tfdeeplab.ops.crop_resample.crop_labels`.
    """
    shape = tf.shape(label)
    rows = tf.clip_by_value(rows, 0, shape[0] - 1)
    cols = tf.clip_by_value(cols, 0, shape[1] - 1)
    crop = tf.cast(tf.gather(tf.gather(label[..., 0], rows), cols, axis=1), tf.int32)
    return tf.where(valid_rows[:, None] & valid_cols[None, :], crop, pad_value)
