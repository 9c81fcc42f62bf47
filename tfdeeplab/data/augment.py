"""The seed's training augmentation (SPEC §3), as graph ops, in its order.

1. Random resize: sx, sy independent from U(low, high); a draw is rejected when
   |sx / sy - 1| >= tolerance; after `max_resize_attempts` rejections no resize. New
   size int(v + 0.5). Image bilinear (or nearest), label nearest.
2. Pad to at least the crop size, centred (top = (crop - h) // 2), with `pad_value` in
   image and label; then a random crop.
3. Horizontal flip with probability p.
4. Channel order (BGR for the Caffe/MXNet models) and mean subtraction, no std.

Every random choice is a stateless op keyed by a per-example seed (shape [2] int), so
the same seed gives the same example, whatever the parallelism. `sample_geometry`
makes all of them at once, from the image size alone.

This module is the readable reference: it resizes the whole image, pads, crops and
flips, step by step. `tfdeeplab.data.crop_sampler` computes the same crop directly
from the encoded image (decoding only the window it needs) from the same
`sample_geometry`, and is what the training pipeline runs; tests hold the two equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import tensorflow as tf

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup

# Whether a channel order is RGB (as images decode) reversed.
CHANNEL_REVERSED = implemented(choices.CHANNEL_ORDERS, {"bgr": True, "rgb": False})
# Whether an image interpolation is bilinear (else nearest).
BILINEAR = implemented(
    choices.IMAGE_INTERPOLATIONS, {"bilinear": True, "nearest": False}
)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """The parameters of SPEC §3's augmentation.

    Built from a recipe's `data` section by
    `tfdeeplab.data.builder.augmentation_from_recipe`, the one place that reads them;
    the seed's values are the recipe schema's defaults, so this class has none.

    Args:
        crop_size: (height, width). The training crop.
        scale_range: (low, high). Range of the independent x and y resize factors.
        aspect_ratio_tolerance: float. A draw with |sx / sy - 1| >= this is rejected.
        max_resize_attempts: int. Draws before giving up and not resizing.
        image_interpolation: str. `bilinear` or `nearest` for the image (the label
            is always nearest).
        pad_value: int. Image and label value of the padding.
        flip_probability: float. Probability of a horizontal flip.
        channel_order: str. `bgr` (the Caffe/MXNet models) or `rgb`.
        mean: (3 floats). Subtracted per channel, in `channel_order`.

    Example:
        >>> Augmentation(crop_size=(321, 321), scale_range=(0.7, 1.5),
        ...     aspect_ratio_tolerance=0.15, max_resize_attempts=50,
        ...     image_interpolation="bilinear", pad_value=255, flip_probability=0.5,
        ...     channel_order="bgr", mean=(104.0, 116.0, 122.0))
    """

    crop_size: tuple[int, int]
    scale_range: tuple[float, float]
    aspect_ratio_tolerance: float
    max_resize_attempts: int
    image_interpolation: str
    pad_value: int
    flip_probability: float
    channel_order: str
    mean: tuple[float, float, float]


class CropGeometry(NamedTuple):
    """The random choices of one example, made before any pixel is touched.

    Args:
        new_size: int32 [2]. (height, width) after the random resize.
        top: int32 scalar. Crop row in the padded, resized canvas.
        left: int32 scalar. Crop column in that canvas.
        flip: bool scalar. Whether the crop is flipped left-right.
    """

    new_size: tf.Tensor
    top: tf.Tensor
    left: tf.Tensor
    flip: tf.Tensor


def random_substream(seed: tf.Tensor, index: int) -> tf.Tensor:
    """An independent stateless seed for the `index`-th random decision."""
    return tf.random.experimental.stateless_fold_in(seed, index)


def sample_scales(
    seed: tf.Tensor,
    scale_range: Sequence[float],
    aspect_ratio_tolerance: float,
    max_attempts: int,
) -> tf.Tensor:
    """(sy, sx): the first of `max_attempts` independent draws that passes the rule.

    Equivalent to drawing until acceptance and giving up after `max_attempts`
    rejections (then (1, 1)), without a data-dependent loop.

    Args:
        seed: [2] int tensor.
        scale_range: (low, high).
        aspect_ratio_tolerance: float. A draw with |sx / sy - 1| >= this is rejected.
        max_attempts: int.

    Returns:
        float32 tensor [2]: (sy, sx).
    """
    if max_attempts <= 0:
        return tf.ones([2], tf.float32)
    low, high = scale_range
    draws = tf.random.stateless_uniform([max_attempts, 2], seed, low, high)
    accepted = tf.abs(draws[:, 1] / draws[:, 0] - 1.0) < aspect_ratio_tolerance
    first = tf.argmax(tf.cast(accepted, tf.int32), output_type=tf.int32)
    return tf.where(tf.reduce_any(accepted), draws[first], tf.ones([2], tf.float32))


def crop_offsets(
    seed: tf.Tensor, canvas_size: tf.Tensor, crop_size: Sequence[int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """(top, left) of a uniformly random `crop_size` crop of a `canvas_size` canvas."""
    top = tf.random.stateless_uniform(
        [], seed, 0, canvas_size[0] - crop_size[0] + 1, dtype=tf.int32
    )
    left = tf.random.stateless_uniform(
        [],
        random_substream(seed, 1),
        0,
        canvas_size[1] - crop_size[1] + 1,
        dtype=tf.int32,
    )
    return top, left


def sample_geometry(
    seed: tf.Tensor, image_size: tf.Tensor, augmentation: Augmentation
) -> CropGeometry:
    """Every random choice of steps 1-3 for an image of `image_size` (height, width).

    Args:
        seed: [2] int tensor, the example's seed.
        image_size: int32 [2]. The source image's (height, width).
        augmentation: Augmentation.

    Returns:
        CropGeometry.
    """
    scales = sample_scales(
        random_substream(seed, 0),
        augmentation.scale_range,
        augmentation.aspect_ratio_tolerance,
        augmentation.max_resize_attempts,
    )
    new_size = tf.cast(
        tf.floor(tf.cast(image_size, tf.float32) * scales + 0.5), tf.int32
    )
    canvas = tf.maximum(new_size, tf.constant(augmentation.crop_size, tf.int32))
    top, left = crop_offsets(random_substream(seed, 1), canvas, augmentation.crop_size)
    flip = (
        tf.random.stateless_uniform([], random_substream(seed, 2))
        < augmentation.flip_probability
    )
    return CropGeometry(new_size, top, left, flip)


def resize(
    image: tf.Tensor, label: tf.Tensor, new_size: tf.Tensor, image_interpolation: str
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 1: image float32 [h', w', 3] (`image_interpolation`), label nearest."""
    image = tf.image.resize(image, new_size, method=image_interpolation)
    label = tf.image.resize(label, new_size, method="nearest")
    return tf.cast(image, tf.float32), label


def pad_and_crop(
    image: tf.Tensor,
    label: tf.Tensor,
    top: tf.Tensor,
    left: tf.Tensor,
    crop_size: Sequence[int],
    pad_value: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 2: centred padding to at least the crop size, then the crop at top, left."""
    crop_height, crop_width = crop_size
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pad_height = tf.maximum(crop_height - height, 0)
    pad_width = tf.maximum(crop_width - width, 0)
    paddings = [
        [pad_height // 2, pad_height - pad_height // 2],
        [pad_width // 2, pad_width - pad_width // 2],
        [0, 0],
    ]
    image = tf.pad(image, paddings, constant_values=float(pad_value))
    label = tf.pad(label, paddings, constant_values=pad_value)
    image = image[top : top + crop_height, left : left + crop_width]
    label = label[top : top + crop_height, left : left + crop_width]
    return tf.ensure_shape(image, [crop_height, crop_width, 3]), tf.ensure_shape(
        label, [crop_height, crop_width, 1]
    )


def flip_left_right(
    image: tf.Tensor, label: tf.Tensor, flip: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 3: flip image and label left-right together where `flip` is true."""
    return (
        tf.where(flip, tf.reverse(image, [1]), image),
        tf.where(flip, tf.reverse(label, [1]), label),
    )


def normalize(image: tf.Tensor, channel_order: str, mean: Sequence[float]) -> tf.Tensor:
    """Step 4: RGB (as decoded) to `channel_order`, minus the per-channel mean."""
    image = tf.cast(image, tf.float32)
    if lookup(CHANNEL_REVERSED, channel_order, "data.channel_order"):
        image = tf.reverse(image, [-1])
    return image - tf.constant(mean, tf.float32)


def augment(
    image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation
) -> tuple[tf.Tensor, tf.Tensor]:
    """SPEC §3's augmentation, steps 1-4, on one decoded example.

    Args:
        image: uint8 [H, W, 3] RGB.
        label: uint8 [H, W, 1] class ids.
        seed: [2] int tensor, this example's seed.
        augmentation: Augmentation. The recipe's `data` settings.

    Returns:
        (image float32 [crop_h, crop_w, 3] normalised, label int32 [crop_h, crop_w]).

    Example:
        >>> augmentation = augmentation_from_recipe(recipe.data)
        >>> image, label = augment(image, label, tf.constant([0, 7]), augmentation)
    """
    geometry = sample_geometry(seed, tf.shape(image)[:2], augmentation)
    image, label = resize(
        image, label, geometry.new_size, augmentation.image_interpolation
    )
    image, label = pad_and_crop(
        image,
        label,
        geometry.top,
        geometry.left,
        augmentation.crop_size,
        augmentation.pad_value,
    )
    image, label = flip_left_right(image, label, geometry.flip)
    image = normalize(image, augmentation.channel_order, augmentation.mean)
    return image, tf.cast(label[..., 0], tf.int32)
