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
- every tile of every scale (and of the flipped image) goes through the model in
  batches of `tile_batch`; softmax probabilities are summed where tiles overlap and
  divided by the count, cut to the scaled size, resized back to the image's size;
- the scales' (and the flip's) probabilities are averaged.

All of it is TensorFlow ops on dynamic sizes, so it traces into one `tf.function`
(and, with export, into a SavedModel). Training validation, evaluation, prediction
and export call this function; there is no second copy of tiling or resizing.
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


def _scaled_size(size: tf.Tensor, scale: float) -> tf.Tensor:
    scaled = tf.round(tf.cast(size, tf.float32) * scale)
    return tf.maximum(tf.cast(scaled, tf.int32), 1)


def _tiles(image: tf.Tensor, window: tuple[int, int], strides: tuple[int, int]):
    """All window-sized tiles of `image` (zero-padded up to the window) and starts."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    padded = tf.pad(
        image,
        [
            [0, tf.maximum(window[0] - height, 0)],
            [0, tf.maximum(window[1] - width, 0)],
            [0, 0],
        ],
    )
    rows = tile_starts(height, window[0], strides[0])
    cols = tile_starts(width, window[1], strides[1])
    row_index = rows[:, None] + tf.range(window[0])[None, :]  # [ny, wh]
    col_index = cols[:, None] + tf.range(window[1])[None, :]  # [nx, ww]
    bands = tf.gather(padded, row_index)  # [ny, wh, W, 3]
    tiles = tf.gather(bands, col_index, axis=2)  # [ny, wh, nx, ww, 3]
    tiles = tf.transpose(tiles, [0, 2, 1, 3, 4])
    count = tf.size(rows) * tf.size(cols)
    tiles = tf.reshape(tiles, [count, window[0], window[1], image.shape[-1] or 3])
    return tiles, rows, cols


def _stitch(probabilities, rows, cols, window, size):
    """Average overlapping tiles' probabilities into one [h, w, C] map.

    The tiles lie on a grid, so the sums and the overlap counts separate by axis:
    tiles are summed into row bands along x, the bands into the canvas along y,
    each a scatter of whole rows or columns (not of single pixels), and the count
    of a pixel is its row's count times its column's.
    """
    ny, nx = tf.size(rows), tf.size(cols)
    classes = tf.shape(probabilities)[-1]
    canvas = tf.stack([tf.maximum(size[0], window[0]), tf.maximum(size[1], window[1])])
    col_index = (cols[:, None] + tf.range(window[1])[None, :])[..., None]  # [nx,ww,1]
    row_index = (rows[:, None] + tf.range(window[0])[None, :])[..., None]  # [ny,wh,1]
    grid = tf.reshape(probabilities, [ny, nx, window[0], window[1], classes])
    by_column = tf.transpose(grid, [1, 3, 0, 2, 4])  # [nx, ww, ny, wh, C]
    bands = tf.scatter_nd(
        col_index, by_column, tf.stack([canvas[1], ny, window[0], classes])
    )  # [W, ny, wh, C]: tiles of each band summed
    by_row = tf.transpose(bands, [1, 2, 0, 3])  # [ny, wh, W, C]
    sums = tf.scatter_nd(row_index, by_row, tf.stack([canvas[0], canvas[1], classes]))
    ones = tf.ones([1, 1], probabilities.dtype)
    count_x = tf.scatter_nd(col_index, tf.tile(ones, [nx, window[1]]), canvas[1:])
    count_y = tf.scatter_nd(row_index, tf.tile(ones, [ny, window[0]]), canvas[:1])
    counts = count_y[:, None] * count_x[None, :]
    averaged = sums / tf.maximum(counts, 1.0)[..., None]
    return averaged[: size[0], : size[1]]


def _forward_in_batches(model, tiles: tf.Tensor, tile_batch: int) -> tf.Tensor:
    """Softmax probabilities of `tiles`, `tile_batch` at a time, float32."""
    count = tf.shape(tiles)[0]
    padded_count = (count + tile_batch - 1) // tile_batch * tile_batch
    tiles = tf.pad(tiles, [[0, padded_count - count], [0, 0], [0, 0], [0, 0]])
    batches = tf.reshape(
        tiles,
        tf.concat([[padded_count // tile_batch, tile_batch], tf.shape(tiles)[1:]], 0),
    )

    def forward(batch):
        logits = model(batch, training=False)
        if isinstance(logits, dict):
            logits = logits["logits"]
        return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)

    outputs = tf.map_fn(forward, batches, fn_output_signature=tf.float32)
    outputs = tf.reshape(outputs, tf.concat([[padded_count], tf.shape(outputs)[2:]], 0))
    return outputs[:count]


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
    scaled_images = []
    for scale, flip in variants:
        scaled = image
        if scale != 1.0:
            scaled = tf.image.resize(image, _scaled_size(size, scale), "bilinear")
        scaled_images.append(tf.reverse(scaled, [1]) if flip else scaled)

    if settings.window is None:  # each scaled image whole, one forward each
        maps = [
            _forward_in_batches(model, scaled[None], 1)[0] for scaled in scaled_images
        ]
    else:
        window = tuple(settings.window)
        strides = tuple(window_stride(w, settings.stride_fraction) for w in window)
        cut = [_tiles(scaled, window, strides) for scaled in scaled_images]
        counts = [tf.shape(tiles)[0] for tiles, _, _ in cut]
        probabilities = _forward_in_batches(
            model, tf.concat([tiles for tiles, _, _ in cut], 0), settings.tile_batch
        )
        pieces = tf.split(probabilities, tf.stack(counts), num=len(counts))
        maps = [
            _stitch(piece, rows, cols, window, tf.shape(scaled)[:2])
            for piece, (_, rows, cols), scaled in zip(
                pieces, cut, scaled_images, strict=True
            )
        ]
    total = 0.0
    for probabilities, (scale, flip) in zip(maps, variants, strict=True):
        if flip:
            probabilities = tf.reverse(probabilities, [1])
        if scale != 1.0:
            probabilities = tf.image.resize(probabilities, size, "bilinear")
        total += probabilities
    return total / len(variants)
