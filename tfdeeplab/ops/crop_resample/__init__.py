"""CropResample: decoded image window -> normalised float crop, in one pass; and
CropLabels, the matching label crop.

`crop_resample` and `crop_labels` run the C++ kernels (`crop_resample_op.cc`, compiled
on first use by `tfdeeplab.ops.build`); the `*_reference` functions are the same
computations in plain TensorFlow ops, the definitions the kernels are tested against
and the fallback where no C++ compiler is available.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

from tfdeeplab.ops.build import OpBuildError, load_op_library

_SOURCE = Path(__file__).with_name("crop_resample_op.cc")
_log = logging.getLogger(__name__)


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
    """Plain-TensorFlow CropResample; see `crop_resample` for the arguments."""
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


def crop_resample(
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
    """Sample a crop from a uint8 window, pad, reorder channels, subtract the mean.

    Args:
        window: uint8 [h, w, 3], the decoded source window.
        rows: float32 [crop_h]. Source row (window coordinates) of each crop row.
        cols: float32 [crop_w]. Source column of each crop column (a flip is a
            reversed `cols`).
        valid_rows: bool [crop_h]. False where the crop row shows padding.
        valid_cols: bool [crop_w]. Likewise for columns.
        mean: float32 [3]. Subtracted per output channel.
        bilinear: bool. Bilinear (clamped at the window border, as tf.image.resize)
            or nearest (floor(coordinate + 0.5)). Defaults to True.
        reverse_channels: bool. RGB to BGR. Defaults to True.
        pad_value: float. Pixel value where the crop shows padding. Defaults to 255.

    Returns:
        float32 [crop_h, crop_w, 3].

    Raises:
        OpBuildError: if the kernel cannot be compiled (use
            `crop_resample_available()` to choose the reference instead).
    """
    ops = load_op_library(str(_SOURCE))
    return ops.tfdeeplab_crop_resample(
        window,
        rows,
        cols,
        valid_rows,
        valid_cols,
        mean,
        bilinear=bilinear,
        reverse_channels=reverse_channels,
        pad_value=pad_value,
    )


def crop_labels_reference(
    label: tf.Tensor,
    rows: tf.Tensor,
    cols: tf.Tensor,
    valid_rows: tf.Tensor,
    valid_cols: tf.Tensor,
    *,
    pad_value: int = 255,
) -> tf.Tensor:
    """Plain-TensorFlow CropLabels; see `crop_labels` for the arguments."""
    shape = tf.shape(label)
    rows = tf.clip_by_value(rows, 0, shape[0] - 1)
    cols = tf.clip_by_value(cols, 0, shape[1] - 1)
    crop = tf.cast(tf.gather(tf.gather(label[..., 0], rows), cols, axis=1), tf.int32)
    return tf.where(valid_rows[:, None] & valid_cols[None, :], crop, pad_value)


def crop_labels(
    label: tf.Tensor,
    rows: tf.Tensor,
    cols: tf.Tensor,
    valid_rows: tf.Tensor,
    valid_cols: tf.Tensor,
    *,
    pad_value: int = 255,
) -> tf.Tensor:
    """The label crop matching `crop_resample`'s image crop (nearest source indices).

    Args:
        label: uint8 [H, W, 1] class ids.
        rows: int32 [crop_h]. Source row of each crop row (clamped to the label).
        cols: int32 [crop_w]. Source column of each crop column.
        valid_rows: bool [crop_h]. False where the crop row shows padding.
        valid_cols: bool [crop_w]. Likewise for columns.
        pad_value: int. Label where the crop shows padding. Defaults to 255.

    Returns:
        int32 [crop_h, crop_w].

    Raises:
        OpBuildError: if the kernel cannot be compiled.
    """
    ops = load_op_library(str(_SOURCE))
    return ops.tfdeeplab_crop_labels(
        label, rows, cols, valid_rows, valid_cols, pad_value=pad_value
    )


def crop_resample_available() -> bool:
    """True when the C++ kernel is built (building it now if needed); logs why not."""
    try:
        load_op_library(str(_SOURCE))
    except (OpBuildError, tf.errors.NotFoundError) as error:
        _log.warning("CropResample kernel unavailable, using TensorFlow ops: %s", error)
        return False
    return True


__all__ = [
    "crop_labels",
    "crop_labels_reference",
    "crop_resample",
    "crop_resample_available",
    "crop_resample_reference",
]
