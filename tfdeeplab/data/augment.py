"""The seed's training augmentation (SPEC §3), as graph ops, in its order.

1. Random resize: sx, sy independent from U(low, high); a draw is rejected when
   |sx / sy - 1| >= tolerance; after `max_attempts` rejections no resize. New size
   int(v + 0.5). Image bilinear (or nearest), label nearest.
2. Pad to at least the crop size, centred (top = (crop - h) // 2), with `pad_value` in
   image and label; then a random crop.
3. Horizontal flip with probability p.
4. Channel order (BGR for the Caffe/MXNet models) and mean subtraction, no std.

Every random choice is a stateless op keyed by a per-example seed (shape [2] int), so
the same seed gives the same example, whatever the parallelism.

This module is the readable reference: it resizes the whole image, pads, crops and
flips, step by step. `tfdeeplab.data.crop_sampler` computes the same crop directly
from the encoded image (decoding only the window it needs) and is what the training
pipeline runs; tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def _substream(seed: tf.Tensor, index: int) -> tf.Tensor:
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


def random_resize(
    image: tf.Tensor,
    label: tf.Tensor,
    seed: tf.Tensor,
    *,
    scale_range: Sequence[float],
    aspect_ratio_tolerance: float,
    max_attempts: int,
    image_interpolation: str = "bilinear",
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 1. Image float32 [h', w', 3], label uint8 [h', w', 1]."""
    scales = sample_scales(seed, scale_range, aspect_ratio_tolerance, max_attempts)
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    new_size = tf.cast(tf.floor(size * scales + 0.5), tf.int32)
    image = tf.image.resize(image, new_size, method=image_interpolation)
    label = tf.image.resize(label, new_size, method="nearest")
    return tf.cast(image, tf.float32), label


def crop_offsets(
    seed: tf.Tensor, canvas_size: tf.Tensor, crop_size: Sequence[int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """(top, left) of a uniformly random `crop_size` crop of a `canvas_size` canvas."""
    top = tf.random.stateless_uniform(
        [], seed, 0, canvas_size[0] - crop_size[0] + 1, dtype=tf.int32
    )
    left = tf.random.stateless_uniform(
        [], _substream(seed, 1), 0, canvas_size[1] - crop_size[1] + 1, dtype=tf.int32
    )
    return top, left


def flip_decision(seed: tf.Tensor, probability: float) -> tf.Tensor:
    """Whether to flip, a boolean scalar true with `probability`."""
    return tf.random.stateless_uniform([], seed) < probability


def pad_and_crop(
    image: tf.Tensor,
    label: tf.Tensor,
    seed: tf.Tensor,
    *,
    crop_size: Sequence[int],
    pad_value: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 2: centred padding to at least the crop size, then a random crop."""
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
    top, left = crop_offsets(
        seed, tf.stack([height + pad_height, width + pad_width]), crop_size
    )
    image = image[top : top + crop_height, left : left + crop_width]
    label = label[top : top + crop_height, left : left + crop_width]
    return tf.ensure_shape(image, [crop_height, crop_width, 3]), tf.ensure_shape(
        label, [crop_height, crop_width, 1]
    )


def random_flip(
    image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor, probability: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Step 3: flip image and label left-right together with `probability`."""
    flip = flip_decision(seed, probability)
    return (
        tf.where(flip, tf.reverse(image, [1]), image),
        tf.where(flip, tf.reverse(label, [1]), label),
    )


def normalize(image: tf.Tensor, channel_order: str, mean: Sequence[float]) -> tf.Tensor:
    """Step 4: RGB (as decoded) to `channel_order`, minus the per-channel mean."""
    image = tf.cast(image, tf.float32)
    if channel_order == "bgr":
        image = tf.reverse(image, [-1])
    return image - tf.constant(mean, tf.float32)


def augment(
    image: tf.Tensor,
    label: tf.Tensor,
    seed: tf.Tensor,
    *,
    crop_size: Sequence[int],
    scale_range: Sequence[float],
    aspect_ratio_tolerance: float,
    max_resize_attempts: int,
    image_interpolation: str,
    pad_value: int,
    flip_probability: float,
    channel_order: str,
    mean: Sequence[float],
) -> tuple[tf.Tensor, tf.Tensor]:
    """SPEC §3's augmentation, steps 1-4, on one decoded example.

    Args:
        image: uint8 [H, W, 3] RGB.
        label: uint8 [H, W, 1] class ids.
        seed: [2] int tensor, this example's seed.
        crop_size: (height, width).
        scale_range, aspect_ratio_tolerance, max_resize_attempts, image_interpolation,
        pad_value, flip_probability, channel_order, mean: the recipe's `data` keys.

    Returns:
        (image float32 [crop_h, crop_w, 3] normalised, label int32 [crop_h, crop_w]).

    Example:
        >>> image, label = augment(image, label, tf.constant([0, 7]),
        ...     crop_size=(321, 321), scale_range=(0.7, 1.5),
        ...     aspect_ratio_tolerance=0.15, max_resize_attempts=50,
        ...     image_interpolation="bilinear", pad_value=255, flip_probability=0.5,
        ...     channel_order="bgr", mean=(104, 116, 122))
    """
    image, label = random_resize(
        image,
        label,
        _substream(seed, 0),
        scale_range=scale_range,
        aspect_ratio_tolerance=aspect_ratio_tolerance,
        max_attempts=max_resize_attempts,
        image_interpolation=image_interpolation,
    )
    image, label = pad_and_crop(
        image, label, _substream(seed, 1), crop_size=crop_size, pad_value=pad_value
    )
    image, label = random_flip(image, label, _substream(seed, 2), flip_probability)
    return normalize(image, channel_order, mean), tf.cast(label[..., 0], tf.int32)
