"""The CropResample and CropLabels C++ kernels (`crop_resample_op.cc`) as functions.

The kernels are compiled on first use by `tfdeeplab.ops.build`; `reference.py` holds
the same computations in plain TensorFlow ops.
"""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.ops.op_cache import load_op, op_available

OP_NAME = "crop_resample"


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
        OpBuildError: if the kernel cannot be built (use
            `crop_resample_available()` to choose `crop_resample_reference`
            instead).
    """
    ops = load_op(OP_NAME)
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
    ops = load_op(OP_NAME)
    return ops.tfdeeplab_crop_labels(
        label, rows, cols, valid_rows, valid_cols, pad_value=pad_value
    )


def crop_resample_available() -> bool:
    """True when the kernels are built (building them now if needed).

    A build that failed is not tried again in this process; the first failure logs
    why (see `tfdeeplab.ops.op_cache.op_available`).
    """
    return op_available(OP_NAME)
