"""The one inference function: SPEC §4's sliding window, scales and flip.

`predict_probabilities(model, image, settings)` turns one normalised image (channel
order and mean already applied, any size) into class probabilities [H, W, C] at its
own size:

- per scale s the image is resized bilinearly to round(s * size);
- a window of the crop size slides over it with stride ceil(stride_fraction *
  window) on each axis; the last tile of a row or column is shifted inward so it
  ends at the border; an image (or axis) smaller than the window gives one tile,
  zero-padded at the bottom/right (after mean subtraction, so padding is the mean
  colour);
- the tiles of every scale (and of the flipped image) go through the model in
  batches of `tile_batch`; softmax probabilities are summed where tiles overlap and
  divided by the count, cut to the scaled size, resized back to the image's size;
- the scales' (and the flip's) probabilities are averaged.

All of it is TensorFlow ops on dynamic sizes, so it traces into one `tf.function`
(and, with export, into a SavedModel). Training validation, evaluation, prediction
and export call this function; there is no second copy of tiling or resizing.

Memory is what the window needs, not the whole image at every scale at once. The
averaging over overlaps and the resizing back are linear, and the overlap count of
a pixel is its row's count times its column's, so each batch of tiles is divided
by its counts, resized to the image's size (two bilinear taps per axis) and added
straight into the one sum at the image's size: no scale's full-size canvas is ever
made. The sum grows in place (`tf.raw_ops.InplaceAdd` on a buffer
`tf.raw_ops.Empty` made for this call, which nothing else reads; TensorFlow copies
a tensor that a loop updates by any other op), the scales run one after the other,
and what is held is the sum (4 * C bytes a pixel), the scaled image and a batch of
tiles. Each tile is added by a call of its own, naming each pixel once: on a GPU
`InplaceAdd` adds one call's rows in parallel without atomics.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    """How an image becomes probabilities.

    Args:
        scales: tuple of float. Image scales whose probabilities are averaged.
            Defaults to (1.0,).
        window: (height, width) or None. Sliding-window (tile) size, the training
            crop in the seed's protocol; None runs each scaled image whole.
            Defaults to None.
        stride_fraction: float. Window stride as a fraction of the window, rounded
            up (2/3: a third of each tile overlaps the next). Defaults to 2/3.
        flip: bool. Also average the horizontally flipped image's probabilities.
            Defaults to False.
        tile_batch: int. Tiles per forward pass. Defaults to 4.

    Example:
        >>> settings = InferenceSettings(scales=(0.9, 1.0, 1.1), window=(321, 321))
    """

    scales: tuple[float, ...] = (1.0,)
    window: tuple[int, int] | None = None
    stride_fraction: float = 2.0 / 3.0
    flip: bool = False
    tile_batch: int = 4


def window_stride(window: int, stride_fraction: float) -> int:
    """ceil(stride_fraction * window), at least 1 (2/3 of 321 is 214).

    Example:
        >>> window_stride(321, 2 / 3), window_stride(1024, 2 / 3)
        (214, 683)
    """
    # Rounded first: 2/3 * 321 is 213.99999999999997 in floating point.
    return max(1, math.ceil(round(stride_fraction * window, 9)))


def tile_starts(length: tf.Tensor, window: int, stride: int) -> tf.Tensor:
    """Start of every tile along one axis: 0, stride, ..., the last one inward.

    Args:
        length: int32 scalar. The axis' length.
        window: int. Tile length.
        stride: int. Distance between tile starts.

    Returns:
        int32 [n]: n = ceil((length - window) / stride) + 1 tiles (1 when the axis
        is not longer than the window); start_i = min(i * stride, length - window).

    Example:
        >>> tile_starts(tf.constant(500), 321, 214).numpy()
        array([  0, 179], dtype=int32)
    """
    length = tf.cast(length, tf.int32)
    overhang = tf.maximum(length - window, 0)
    count = (overhang + stride - 1) // stride + 1
    return tf.minimum(tf.range(count) * stride, overhang)


def bytes_per_pixel(num_classes: int, settings: InferenceSettings) -> float:
    """Memory `predict_probabilities` holds per pixel of the image, about.

    The sum over variants (4 bytes a class), the image as uint8 and float32 and
    its largest scaled (and flipped) copy, the label map; with 15% to spare.

    Example:
        >>> bytes_per_pixel(21, InferenceSettings(scales=(0.9, 1.0, 1.1)))
        135.15
    """
    largest = max(settings.scales) ** 2
    scaled = 12 * largest * (2 if settings.flip else 1)
    return round(1.15 * (4 * num_classes + 3 + 12 + scaled + 4), 2)


def _scaled_size(size: tf.Tensor, scale: float) -> tf.Tensor:
    scaled = tf.round(tf.cast(size, tf.float32) * scale)
    return tf.maximum(tf.cast(scaled, tf.int32), 1)


def _softmax(model, batch: tf.Tensor) -> tf.Tensor:
    """Softmax probabilities of one batch of images, float32."""
    logits = model(batch, training=False)
    if isinstance(logits, dict):
        logits = logits["logits"]
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)


def _overlap_counts(starts: tf.Tensor, window, length: tf.Tensor) -> tf.Tensor:
    """How many tiles cover each position along one axis, float32 [length]."""
    positions = (starts[:, None] + tf.range(window)[None, :])[..., None]
    return tf.scatter_nd(positions, tf.ones(tf.shape(positions)[:2]), [length])


@dataclasses.dataclass(frozen=True)
class _Axis:
    """One axis of a variant: how the image's positions sample the canvas.

    For each output position: the two canvas positions it interpolates between
    (bilinear, half-pixel centres, as `tf.image.resize`; flipped back for a
    flipped variant), their weights divided by the canvas' overlap counts, and
    the sorted source positions that find the outputs a tile reaches.
    """

    lower: tf.Tensor  # canvas position of the first tap, int32 [out]
    upper: tf.Tensor  # of the second tap
    lower_weight: tf.Tensor  # float32 [out]
    upper_weight: tf.Tensor
    source_lower: tf.Tensor  # unflipped source positions, ascending
    source_upper: tf.Tensor
    length: tf.Tensor  # the scaled image's length on this axis
    flip: bool


def _axis(out_length, length, counts, flip) -> _Axis:
    positions = tf.cast(tf.range(out_length), tf.float32)
    source = (positions + 0.5) * (
        tf.cast(length, tf.float32) / tf.cast(out_length, tf.float32)
    ) - 0.5
    floor = tf.floor(source)
    fraction = source - floor
    lower = tf.maximum(tf.cast(floor, tf.int32), 0)
    upper = tf.minimum(tf.cast(tf.math.ceil(source), tf.int32), length - 1)
    canvas_lower = length - 1 - lower if flip else lower
    canvas_upper = length - 1 - upper if flip else upper
    return _Axis(
        lower=canvas_lower,
        upper=canvas_upper,
        lower_weight=(1.0 - fraction) / tf.gather(counts, canvas_lower),
        upper_weight=fraction / tf.gather(counts, canvas_upper),
        source_lower=lower,
        source_upper=upper,
        length=length,
        flip=flip,
    )


def _resampling(axis: _Axis, starts: tf.Tensor, window, reach):
    """Where a batch of tiles lands on one axis of the image.

    Args:
        axis: _Axis.
        starts: int32 [B], each tile's first canvas position on this axis.
        window: int or int32 scalar, the tile's length.
        reach: int32 scalar, the most output positions one tile reaches.

    Returns:
        (outputs [B, reach] int32, how many of them each tile reaches [B] int32
        (the rest repeat the last output), and for the two taps: local positions
        in the tile [B, reach] int32 and weights [B, reach] float32, zero for a
        tap outside the tile or an output past the tile's reach).
    """
    if axis.flip:  # the tile's canvas span, in unflipped source positions
        first = axis.length - starts - window
    else:
        first = starts
    begin = tf.searchsorted(axis.source_upper, first, side="left")
    end = tf.searchsorted(axis.source_lower, first + window, side="left")
    outputs = begin[:, None] + tf.range(reach)[None, :]
    inside = outputs < end[:, None]
    outputs = tf.minimum(outputs, tf.size(axis.lower) - 1)
    taps = []
    for canvas, weight in (
        (axis.lower, axis.lower_weight),
        (axis.upper, axis.upper_weight),
    ):
        local = tf.gather(canvas, outputs) - starts[:, None]
        covered = inside & (local >= 0) & (local < window)
        taps.append(tf.clip_by_value(local, 0, window - 1))
        taps.append(tf.where(covered, tf.gather(weight, outputs), 0.0))
    return (outputs, tf.clip_by_value(end - begin, 0, reach), *taps)


def _interpolate(
    values, axis_index, local_lower, weight_lower, local_upper, weight_upper
):
    """Two weighted taps along `axis_index` (1 or 2) of [B, ., ., C] `values`."""
    expand = [slice(None)] * 4
    expand[3] = None
    expand[3 - axis_index] = None
    lower = tf.gather(values, local_lower, axis=axis_index, batch_dims=1)
    upper = tf.gather(values, local_upper, axis=axis_index, batch_dims=1)
    return lower * weight_lower[tuple(expand)] + upper * weight_upper[tuple(expand)]


def _add_at(total, pixels, values, extents=None):
    """`total[pixels] += values` in place, one tile after the other.

    `InplaceAdd` adds the rows of one call in parallel on a GPU, unguarded (`*p +=
    v`, no atomics): a pixel named twice in one call could lose an addition.
    Tiles overlap, so each tile is a call of its own, adding only its own outputs.

    Args:
        total: float32 [H * W, C]. The sum.
        pixels: int32 [B, h, w]. Each tile's outputs as flat pixel indices.
        values: float32 [B, h, w, C]. What to add there.
        extents: int32 [B, 2] or None. The rows and columns of each tile's
            outputs that are its own (past them, positions repeat); None: all.
    """
    classes = tf.shape(values)[-1]

    def add(index, total):
        tile_pixels, tile_values = pixels[index], values[index]
        if extents is not None:
            rows, cols = extents[index, 0], extents[index, 1]
            tile_pixels = tile_pixels[:rows, :cols]
            tile_values = tile_values[:rows, :cols]
        total = tf.raw_ops.InplaceAdd(
            x=total,
            i=tf.reshape(tile_pixels, [-1]),
            v=tf.reshape(tile_values, [-1, classes]),
        )
        return index + 1, total

    _, total = tf.while_loop(
        lambda index, _: index < tf.shape(pixels)[0],
        add,
        (tf.constant(0), total),
        parallel_iterations=1,
    )
    return total


def _add_tiles(
    total, probabilities, starts, window, rows: _Axis, cols: _Axis, reach, weight
):
    """Add a batch of tiles' probabilities, averaged over their overlaps and
    resized to the image, into `total` (flat [H * W, C]) in place.

    Args:
        probabilities: float32 [B, wh, ww, C].
        starts: int32 [B, 2], each tile's (row, column) in the canvas.
        window: (wh, ww).
        rows, cols: _Axis of the variant.
        reach: (int32, int32), the most output rows and columns one tile reaches.
        weight: float. The variant's share of the average.
    """
    out_rows, row_extent, *row_taps = _resampling(
        rows, starts[:, 0], window[0], reach[0]
    )
    out_cols, col_extent, *col_taps = _resampling(
        cols, starts[:, 1], window[1], reach[1]
    )
    values = _interpolate(probabilities, 1, *row_taps)  # [B, reach_y, ww, C]
    values = _interpolate(values, 2, *col_taps) * weight  # [B, reach_y, reach_x, C]
    pixels = out_rows[:, :, None] * tf.size(cols.lower) + out_cols[:, None, :]
    return _add_at(total, pixels, values, tf.stack([row_extent, col_extent], 1))


def _variant_tiles(image, window, strides):
    """The sliding window's tiles of one (scaled) image: their starts and a
    function cutting a batch of them (zero-padded past the image)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    short = tf.logical_or(height < window[0], width < window[1])
    padded = tf.cond(
        short,
        lambda: tf.pad(
            image,
            [
                [0, tf.maximum(window[0] - height, 0)],
                [0, tf.maximum(window[1] - width, 0)],
                [0, 0],
            ],
        ),
        lambda: image,
    )
    rows = tile_starts(height, window[0], strides[0])
    cols = tile_starts(width, window[1], strides[1])
    grid_rows, grid_cols = tf.meshgrid(rows, cols, indexing="ij")
    starts = tf.stack([tf.reshape(grid_rows, [-1]), tf.reshape(grid_cols, [-1])], 1)

    def cut(at):
        row_index = at[:, :1] + tf.range(window[0])[None, :]  # [B, wh]
        col_index = at[:, 1:] + tf.range(window[1])[None, :]  # [B, ww]
        bands = tf.gather(padded, row_index)  # [B, wh, W, 3]
        return tf.gather(bands, col_index, axis=2, batch_dims=1)

    counts = (
        _overlap_counts(rows, window[0], tf.maximum(height, window[0])),
        _overlap_counts(cols, window[1], tf.maximum(width, window[1])),
    )
    return starts, cut, counts


def _add_unscaled_tiles(total, probabilities, starts, size, counts, flip, weight):
    """`_add_tiles` for a variant at the image's own size: no resampling, only the
    division by the overlap counts (a tile past the image is cut to it)."""
    rows = starts[:, :1] + tf.range(tf.shape(probabilities)[1])[None, :]  # [B, wh]
    cols = starts[:, 1:] + tf.range(tf.shape(probabilities)[2])[None, :]  # [B, ww]
    keep_rows = tf.minimum(tf.shape(rows)[1], size[0])
    keep_cols = tf.minimum(tf.shape(cols)[1], size[1])
    rows, cols = rows[:, :keep_rows], cols[:, :keep_cols]
    share = (
        weight
        / tf.gather(counts[0], rows)[:, :, None, None]
        / tf.gather(counts[1], cols)[:, None, :, None]
    )
    values = probabilities[:, :keep_rows, :keep_cols] * share
    if flip:  # the canvas is of the flipped image: column c is the image's W-1-c
        cols = size[1] - 1 - cols
    pixels = rows[:, :, None] * size[1] + cols[:, None, :]
    return _add_at(total, pixels, values)


def _add_variant(total, model, scaled, size, flip, settings, weight, unscaled):
    """Add one variant's (scale's, flip's) probabilities into `total`, flat
    [H * W, C]; None makes the sum (its class count comes from the first batch).
    An `unscaled` variant (scale 1) is added without resampling."""
    if settings.window is None:  # the scaled image whole: one tile of its size
        window = (tf.shape(scaled)[0], tf.shape(scaled)[1])
        strides = window
    else:
        window = tuple(settings.window)
        strides = tuple(window_stride(w, settings.stride_fraction) for w in window)
    starts, cut, counts = _variant_tiles(scaled, window, strides)
    length = tf.shape(scaled)[:2]
    rows = _axis(size[0], length[0], counts[0], flip=False)
    cols = _axis(size[1], length[1], counts[1], flip=flip)
    # A tile of n source positions reaches about n / scale outputs, plus the taps.
    reach = tuple(
        tf.cast(
            tf.math.ceil(
                tf.cast(w, tf.float32)
                * tf.cast(out, tf.float32)
                / tf.cast(n, tf.float32)
            ),
            tf.int32,
        )
        + 2
        for w, out, n in zip(
            window, (size[0], size[1]), (length[0], length[1]), strict=True
        )
    )
    count = tf.shape(starts)[0]
    batch = settings.tile_batch if settings.window is not None else 1

    def add(index, total, probabilities=None):
        at = starts[index : tf.minimum(index + batch, count)]
        if probabilities is None:
            probabilities = _softmax(model, cut(at))
        if unscaled:
            total = _add_unscaled_tiles(
                total, probabilities, at, size, counts, flip, weight
            )
        else:
            total = _add_tiles(
                total, probabilities, at, window, rows, cols, reach, weight
            )
        return index + batch, total

    if total is None:
        first = _softmax(model, cut(starts[:batch]))
        total = tf.raw_ops.Empty(
            shape=tf.stack([size[0] * size[1], tf.shape(first)[-1]]),
            dtype=tf.float32,
            init=True,
        )
        index, total = add(0, total, first)
    else:
        index = tf.constant(0)
    _, total = tf.while_loop(
        lambda index, _: index < count, add, (index, total), parallel_iterations=1
    )
    return total


def predict_probabilities(
    model: keras.Model, image: tf.Tensor, settings: InferenceSettings
) -> tf.Tensor:
    """Class probabilities of one image by SPEC §4's protocol (see the module).

    Args:
        model: keras.Model. Image [N, H, W, 3] to logits [N, H, W, C] at its input
            size (or the MSC dict, whose `logits` are used).
        image: float [H, W, 3]. Normalised as the model expects (channel order,
            mean subtracted).
        settings: InferenceSettings.

    Returns:
        float32 [H, W, C], each pixel's probabilities (they sum to 1).

    Example:
        >>> probabilities = predict_probabilities(
        ...     model, example["image"], InferenceSettings(window=(321, 321)))
        >>> labels = tf.argmax(probabilities, -1)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    size = tf.shape(image)[:2]
    variants = [
        (scale, flip)
        for scale in settings.scales
        for flip in ((False, True) if settings.flip else (False,))
    ]
    total = None
    for scale, flip in variants:
        # One variant after the other (each starts once the sum so far is done).
        with tf.control_dependencies([] if total is None else [total]):
            scaled = tf.identity(image)
        if scale != 1.0:
            scaled = tf.image.resize(scaled, _scaled_size(size, scale), "bilinear")
        if flip:
            scaled = tf.reverse(scaled, [1])
        total = _add_variant(
            total,
            model,
            scaled,
            size,
            flip,
            settings,
            1.0 / len(variants),
            unscaled=scale == 1.0,
        )
    return tf.reshape(total, tf.concat([size, tf.shape(total)[-1:]], 0))
