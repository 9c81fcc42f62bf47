"""SPEC §3's resize-pad-crop-flip, computed straight into the crop.

`tfdeeplab.data.augment.augment` resizes the whole image, pads it and cuts the crop
out. Every output pixel of that chain depends on at most two source rows and two
source columns, known before any pixel is decoded: this module takes the same random
choices (`sample_geometry`), works out for each crop row and column its source
rows/columns and weights (TensorFlow's half-pixel bilinear or nearest rules, clamped
at the border, the pad value outside the resized image, mirrored for a flip), decodes
only the source window it needs (`decode_and_crop_jpeg` for JPEG) and gathers. Same
result, a fraction of the work: the crop is resampled once instead of resizing the
whole image, and the resampling, padding, channel order and mean subtraction are one
pass of the `tfdeeplab.ops.crop_resample` kernel.
"""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.catalog.choices import lookup
from tfdeeplab.data.augment import (
    BILINEAR,
    CHANNEL_REVERSED,
    Augmentation,
    sample_geometry,
)
from tfdeeplab.ops.crop_resample import (
    crop_labels,
    crop_labels_reference,
    crop_resample,
    crop_resample_reference,
)

# JPEG decoders upsample chroma from neighbouring blocks: a window decoded with a margin
# of one 16-pixel MCU has the same pixels as the full decode.
_JPEG_MARGIN = 16


def _axis_plan(in_size, new_size, crop_len: int, offset):
    """Where the crop's positions along one axis sample the source.

    Args:
        in_size: int32 scalar. Source length.
        new_size: int32 scalar. Length after the random resize.
        crop_len: int. Crop length.
        offset: int32 scalar. Crop start in the padded canvas.

    Returns:
        (first, step, valid): the source coordinate of crop position 0 and the step
        between positions (TensorFlow's half-pixel rule, source = (i + 0.5) * scale -
        0.5 for resized index i), and bool [crop_len], false where the crop shows
        padding.
    """
    pad_before = tf.maximum(crop_len - new_size, 0) // 2
    resized = offset + tf.range(crop_len) - pad_before
    valid = (resized >= 0) & (resized < new_size)
    step = tf.cast(in_size, tf.float32) / tf.cast(new_size, tf.float32)
    first = (tf.cast(offset - pad_before, tf.float32) + 0.5) * step - 0.5
    return first, step, valid


def _nearest_indices(in_size, new_size, crop_len: int, offset):
    """Source index of each crop position by `tf.image.resize`'s nearest rule, exactly.

    floor((i + 0.5) * (in / new)) in float32 as TensorFlow computes it: rational scales
    put many positions exactly on a tie, so an equivalent formula is not enough.
    """
    pad_before = tf.maximum(crop_len - new_size, 0) // 2
    resized = offset + tf.range(crop_len) - pad_before
    scale = tf.cast(in_size, tf.float32) / tf.cast(new_size, tf.float32)
    index = tf.cast(tf.floor((tf.cast(resized, tf.float32) + 0.5) * scale), tf.int32)
    return tf.clip_by_value(index, 0, in_size - 1)


def _window(first, step, valid, crop_len: int, size):
    """Start and length of the source span the valid positions touch, with margin."""
    positions = first + step * tf.cast(tf.range(crop_len), tf.float32)
    low = tf.cast(tf.floor(tf.reduce_min(tf.where(valid, positions, 1e9))), tf.int32)
    high = (
        tf.cast(tf.floor(tf.reduce_max(tf.where(valid, positions, -1e9))), tf.int32) + 1
    )
    start = tf.clip_by_value(low - _JPEG_MARGIN, 0, size - 1)
    stop = tf.clip_by_value(high + _JPEG_MARGIN, 0, size - 1)
    return start, stop - start + 1


def _positions(first, step, length: int) -> tf.Tensor:
    """first + step * i for i < length, float32."""
    return first + step * tf.cast(tf.range(length), tf.float32)


def _decode_window(encoded, start_row, start_col, height, width) -> tf.Tensor:
    """The window of the image: only it decoded for a JPEG, cut from a PNG."""
    window = tf.stack([start_row, start_col, height, width])
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.image.decode_and_crop_jpeg(encoded, window, channels=3),
        lambda: tf.image.crop_to_bounding_box(
            tf.io.decode_png(encoded, channels=3), start_row, start_col, height, width
        ),
    )


def _resample_image(
    source, rows, cols, valid_rows, valid_cols, bilinear, augmentation, use_kernel
):
    """The crop from the decoded window: resampled, padded, channels, mean."""
    resample = crop_resample if use_kernel else crop_resample_reference
    reverse = lookup(CHANNEL_REVERSED, augmentation.channel_order, "data.channel_order")
    return resample(
        source,
        rows,
        cols,
        valid_rows,
        valid_cols,
        tf.constant(augmentation.mean, tf.float32),
        bilinear=bilinear,
        reverse_channels=reverse,
        pad_value=float(augmentation.pad_value),
    )


def sample_crop(
    encoded_image: tf.Tensor,
    label: tf.Tensor,
    seed: tf.Tensor,
    augmentation: Augmentation,
    *,
    use_kernel: bool = True,
) -> tuple[tf.Tensor, tf.Tensor]:
    """SPEC §3 from an encoded image: `augment`'s result, decoded lazily.

    Args:
        encoded_image: scalar string, a JPEG or PNG (3 channels after decoding).
        label: uint8 [H, W, 1] class ids, the image's size.
        seed: [2] int tensor, this example's seed (as for `augment`).
        augmentation: Augmentation. The recipe's `data` settings.
        use_kernel: bool. Resample with the C++ CropResample kernel (True) or its
            TensorFlow reference (False). Defaults to True.

    Returns:
        (image float32 [crop_h, crop_w, 3] normalised, label int32 [crop_h, crop_w]).

    Example:
        >>> augmentation = augmentation_from_recipe(recipe.data)
        >>> image, label = sample_crop(encoded, label, tf.constant([0, 7]),
        ...                            augmentation)
    """
    crop_height, crop_width = augmentation.crop_size
    bilinear = lookup(
        BILINEAR, augmentation.image_interpolation, "data.image_interpolation"
    )
    height, width = tf.shape(label)[0], tf.shape(label)[1]
    new_size, top, left, flip = sample_geometry(
        seed, tf.stack([height, width]), augmentation
    )
    first_row, row_step, valid_rows = _axis_plan(height, new_size[0], crop_height, top)
    first_col, col_step, valid_cols = _axis_plan(width, new_size[1], crop_width, left)
    start_row, window_height = _window(
        first_row, row_step, valid_rows, crop_height, height
    )
    start_col, window_width = _window(
        first_col, col_step, valid_cols, crop_width, width
    )
    # A flip mirrors every per-column plan; the window does not change.
    valid_cols = tf.where(flip, tf.reverse(valid_cols, [0]), valid_cols)
    source = _decode_window(
        encoded_image, start_row, start_col, window_height, window_width
    )
    nearest_rows = _nearest_indices(height, new_size[0], crop_height, top)
    nearest_cols = _nearest_indices(width, new_size[1], crop_width, left)
    nearest_cols = tf.where(flip, tf.reverse(nearest_cols, [0]), nearest_cols)
    if bilinear:
        rows = _positions(first_row, row_step, crop_height) - tf.cast(
            start_row, tf.float32
        )
        cols = _positions(first_col, col_step, crop_width) - tf.cast(
            start_col, tf.float32
        )
        cols = tf.where(flip, tf.reverse(cols, [0]), cols)
    else:
        rows = tf.cast(nearest_rows - start_row, tf.float32)
        cols = tf.cast(nearest_cols - start_col, tf.float32)
    image = _resample_image(
        source, rows, cols, valid_rows, valid_cols, bilinear, augmentation, use_kernel
    )
    crop_label = crop_labels if use_kernel else crop_labels_reference
    label = crop_label(
        label,
        nearest_rows,
        nearest_cols,
        valid_rows,
        valid_cols,
        pad_value=augmentation.pad_value,
    )
    image = tf.ensure_shape(image, [crop_height, crop_width, 3])
    return image, tf.ensure_shape(label, [crop_height, crop_width])
