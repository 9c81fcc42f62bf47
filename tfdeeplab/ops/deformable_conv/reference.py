"""Pure-TensorFlow deformable convolution: the reference every faster path must match.

Semantics are those of the MSRA DCN op, DCNv2 and torchvision (SPEC §2):
- `offsets` has 2 * G * kh * kw channels; in group g's block, channel 2 * (i * kw + j)
  is dy and 2 * (i * kw + j) + 1 is dx of kernel tap (i, j). Input channel c belongs to
  group c // (C / G).
- Tap (i, j) of output pixel (ho, wo) samples the input bilinearly at
  (ho * stride - pad + i * dilation + dy, wo * stride - pad + j * dilation + dx).
- A bilinear corner outside the image contributes 0, so a sample at y <= -1, y >= H,
  x <= -1 or x >= W is 0.
- The modulated variant multiplies each sample by `mask` (G * kh * kw channels).
- A non-finite offset or mask makes the sample NaN (no index out of range), so a
  diverging run stops on the trainer's NaN guard.

Gradients come from TensorFlow's autodiff through the gathers and bilinear weights.
"""

from __future__ import annotations

import tensorflow as tf


def output_size(size, kernel_size: int, stride: int, padding: int, dilation: int):
    """Output length of a convolution along one axis (integer or tensor `size`)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def _tap_grid(out_size, kernel_size, stride, padding, dilation, dtype):
    """[out, k] integer sampling grid of one axis before offsets."""
    base = tf.range(out_size) * stride - padding
    taps = tf.range(kernel_size) * dilation
    return tf.cast(base[:, None] + taps[None, :], dtype)


def deformable_conv2d_reference(
    inputs: tf.Tensor,
    offsets: tf.Tensor,
    kernel: tf.Tensor,
    *,
    strides: int = 1,
    padding: int = 0,
    dilation: int = 1,
    deformable_groups: int = 1,
    mask: tf.Tensor | None = None,
) -> tf.Tensor:
    """Deformable 2-D convolution, NHWC, no bias, in plain TensorFlow ops.

    Args:
        inputs: [N, H, W, C] tensor.
        offsets: [N, Ho, Wo, 2 * G * kh * kw] tensor of (dy, dx) per group and tap.
        kernel: [kh, kw, C, O] tensor (the Keras Conv2D layout).
        strides: int. Stride of both axes. Defaults to 1.
        padding: int. Implicit zero padding of both axes. Defaults to 0.
        dilation: int. Dilation of both axes. Defaults to 1.
        deformable_groups: int. G; C must be divisible by it. Defaults to 1.
        mask: optional [N, Ho, Wo, G * kh * kw] modulation (DCN v2). Defaults to None.

    Returns:
        [N, Ho, Wo, O] tensor in the dtype of `inputs`.

    Example:
        >>> out = deformable_conv2d_reference(x, tf.zeros([1, 8, 8, 18]), w,
        ...                                   padding=1)
        >>> # zero offsets: the same as tf.nn.conv2d(x, w, 1, [[0,0],[1,1],[1,1],[0,0]])
    """
    kh, kw, channels, filters = kernel.shape
    groups = deformable_groups
    group_channels = channels // groups
    taps = kh * kw
    shape = tf.shape(inputs)
    batch, height, width = shape[0], shape[1], shape[2]
    out_h = output_size(height, kh, strides, padding, dilation)
    out_w = output_size(width, kw, strides, padding, dilation)

    # Sample positions in float32 (float64 when the offsets are), whatever the
    # compute dtype: half precision cannot address pixels of large images exactly.
    position_dtype = tf.float64 if offsets.dtype == tf.float64 else tf.float32
    grid_y = tf.repeat(
        _tap_grid(out_h, kh, strides, padding, dilation, position_dtype), kw, axis=1
    )
    grid_x = tf.tile(
        _tap_grid(out_w, kw, strides, padding, dilation, position_dtype), [1, kh]
    )
    # (dy, dx) alternate along the last axis; split there, at rank 4 (TFLite's
    # strided slice stops at rank 5, so an exported model can carry this).
    deltas = tf.cast(offsets, position_dtype)
    grouped_taps = [batch, out_h, out_w, groups, taps]
    delta_y = tf.reshape(deltas[..., 0::2], grouped_taps)
    delta_x = tf.reshape(deltas[..., 1::2], grouped_taps)
    sample_y = grid_y[None, :, None, None, :] + delta_y  # [N, Ho, Wo, G, K]
    sample_x = grid_x[None, None, :, None, :] + delta_x

    finite = tf.math.is_finite(sample_y) & tf.math.is_finite(sample_x)
    y0 = tf.floor(sample_y)
    x0 = tf.floor(sample_x)
    frac_y = sample_y - y0
    frac_x = sample_x - x0
    if mask is not None:
        modulation = tf.reshape(
            tf.cast(mask, position_dtype), [batch, out_h, out_w, groups, taps]
        )
    else:
        modulation = 1.0

    # [N, G, H*W, C/G]: each group gathers from its own channels.
    grouped = tf.reshape(inputs, [batch, height * width, groups, group_channels])
    grouped = tf.transpose(grouped, [0, 2, 1, 3])
    height_f = tf.cast(height, position_dtype)
    width_f = tf.cast(width, position_dtype)

    sampled = 0.0
    for dy, dx in ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)):
        corner_y = y0 + dy
        corner_x = x0 + dx
        weight_y = frac_y if dy else 1.0 - frac_y
        weight_x = frac_x if dx else 1.0 - frac_x
        inside = (
            (corner_y >= 0)
            & (corner_y < height_f)
            & (corner_x >= 0)
            & (corner_x < width_f)
        )
        weight = weight_y * weight_x * tf.cast(inside, position_dtype) * modulation
        # A non-finite position (a diverging run) reads pixel 0 with a NaN weight:
        # NaN out, never an index out of range.
        index = tf.where(
            finite,
            tf.clip_by_value(corner_y, 0, height_f - 1) * width_f
            + tf.clip_by_value(corner_x, 0, width_f - 1),
            tf.zeros_like(corner_y),
        )
        index = tf.cast(index, tf.int32)
        index = tf.reshape(tf.transpose(index, [0, 3, 1, 2, 4]), [batch, groups, -1])
        weight = tf.reshape(
            tf.transpose(weight, [0, 3, 1, 2, 4]), [batch, groups, -1, 1]
        )
        values = tf.gather(grouped, index, batch_dims=2)  # [N, G, Ho*Wo*K, C/G]
        sampled += values * tf.cast(weight, values.dtype)

    # Columns ordered (tap, channel) to match the kernel flattened as [kh*kw*C, O].
    columns = tf.reshape(sampled, [batch, groups, out_h, out_w, taps, group_channels])
    columns = tf.transpose(columns, [0, 2, 3, 4, 1, 5])
    columns = tf.reshape(columns, [batch, out_h, out_w, taps * channels])
    flat_kernel = tf.reshape(tf.cast(kernel, columns.dtype), [taps * channels, filters])
    outputs = tf.reshape(
        tf.matmul(tf.reshape(columns, [-1, taps * channels]), flat_kernel),
        [batch, out_h, out_w, filters],
    )
    return tf.cast(outputs, inputs.dtype)
