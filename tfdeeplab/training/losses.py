"""The segmentation losses: SPEC §3's softmax cross-entropy at input resolution, and
the options for rare classes (`train.loss`, `train.class_weights`).

Pixels labelled `ignore_label` do not count; every loss is a mean over the valid
pixels of the batch a replica sees (how gradients then combine across replicas is
the trainer's `gradient_reduction`). Multi-scale models sum the loss of every
output: the fused logits and each scale's logits, against the labels resized
(nearest) to that scale's size.

- `cross_entropy`: the seed's; with class weights, each pixel's term is weighted by
  its true class's weight and the sum divided by the valid pixels' count.
- `ohem`: online hard example mining (PSPNet, mmsegmentation's OHEM sampler): only
  the pixels whose true-class probability is below `threshold` count, and at least
  the `min_kept` hardest of them; the mean is over the kept pixels.
- `cross_entropy_dice`: the cross-entropy plus the dice loss of the softmax,
  1 - mean over classes of (2 |P.Y| + 1) / (|P| + |Y| + 1) on the valid pixels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfdeeplab.catalog import choices


def valid_pixel_cross_entropy(
    labels: tf.Tensor,
    logits: tf.Tensor,
    ignore_label: int = 255,
    class_weights: Sequence[float] | None = None,
) -> tf.Tensor:
    """Mean softmax cross-entropy over the pixels whose label is not `ignore_label`.

    Args:
        labels: int [N, H, W] class ids.
        logits: float [N, H, W, C].
        ignore_label: int. Label of pixels that do not count. Defaults to 255.
        class_weights: one weight per class, or None for none.

    Returns:
        float32 scalar; 0 when no pixel is valid.

    Example:
        >>> loss = valid_pixel_cross_entropy(labels, model(images))
    """
    per_pixel, valid, safe_labels = _per_pixel(labels, logits, ignore_label)
    weights = _pixel_weights(valid, safe_labels, class_weights)
    return tf.math.divide_no_nan(
        tf.reduce_sum(per_pixel * weights), tf.reduce_sum(tf.cast(valid, tf.float32))
    )


def _per_pixel(labels, logits, ignore_label):
    """(cross-entropy per pixel, valid mask, labels with ignored pixels at 0)."""
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, ignore_label)
    safe_labels = tf.where(valid, labels, 0)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=safe_labels, logits=tf.cast(logits, tf.float32)
    )
    return per_pixel, valid, safe_labels


def _pixel_weights(valid, safe_labels, class_weights) -> tf.Tensor:
    weights = tf.cast(valid, tf.float32)
    if class_weights is None:
        return weights
    table = tf.constant(np.asarray(class_weights, np.float32))
    return weights * tf.gather(table, safe_labels)


def ohem_cross_entropy(
    labels: tf.Tensor,
    logits: tf.Tensor,
    ignore_label: int = 255,
    class_weights: Sequence[float] | None = None,
    *,
    threshold: float = 0.7,
    min_kept: int = 100_000,
) -> tf.Tensor:
    """Cross-entropy of the hard pixels: true-class probability below
    `max(threshold, the min_kept-th lowest probability)`, a mean over them.

    Example:
        >>> loss = ohem_cross_entropy(labels, logits, threshold=0.7, min_kept=1000)
    """
    per_pixel, valid, safe_labels = _per_pixel(labels, logits, ignore_label)
    probability = tf.exp(-per_pixel)  # of the true class
    flat = tf.reshape(tf.where(valid, probability, 2.0), [-1])  # ignored: never kept
    count = tf.reduce_sum(tf.cast(valid, tf.int32))
    kth = tf.minimum(tf.cast(min_kept, tf.int32), count)
    lowest = tf.sort(flat)
    cutoff = tf.where(
        kth > 0, tf.gather(lowest, tf.maximum(kth - 1, 0)), tf.constant(0.0)
    )
    cutoff = tf.maximum(cutoff, threshold)
    # `<=` keeps the min_kept-th pixel itself when it sets the cut-off.
    kept = valid & (
        (probability < cutoff) | ((probability <= cutoff) & (cutoff > threshold))
    )
    weights = _pixel_weights(kept, safe_labels, class_weights)
    return tf.math.divide_no_nan(
        tf.reduce_sum(per_pixel * weights), tf.reduce_sum(tf.cast(kept, tf.float32))
    )


def dice_loss(
    labels: tf.Tensor, logits: tf.Tensor, ignore_label: int = 255
) -> tf.Tensor:
    """1 - mean over classes of (2 |P.Y| + 1) / (|P| + |Y| + 1), valid pixels only.

    Example:
        >>> loss = dice_loss(labels, logits)
    """
    labels = tf.cast(labels, tf.int32)
    valid = tf.cast(tf.not_equal(labels, ignore_label), tf.float32)[..., None]
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32)) * valid
    truth = tf.one_hot(tf.where(valid[..., 0] > 0, labels, 0), tf.shape(logits)[-1])
    truth *= valid
    axes = tf.range(tf.rank(truth) - 1)
    overlap = tf.reduce_sum(probabilities * truth, axes)
    total = tf.reduce_sum(probabilities, axes) + tf.reduce_sum(truth, axes)
    return 1.0 - tf.reduce_mean((2.0 * overlap + 1.0) / (total + 1.0))


def _cross_entropy_dice(labels, logits, ignore_label=255, class_weights=None):
    return valid_pixel_cross_entropy(
        labels, logits, ignore_label, class_weights
    ) + dice_loss(labels, logits, ignore_label)


PIXEL_LOSSES = choices.implemented(
    choices.LOSSES,
    {
        "cross_entropy": valid_pixel_cross_entropy,
        "ohem": ohem_cross_entropy,
        "cross_entropy_dice": _cross_entropy_dice,
    },
)


def build_pixel_loss(
    loss: str,
    class_weights: Sequence[float] | None = None,
    *,
    ohem_threshold: float = 0.7,
    ohem_min_kept: int = 100_000,
) -> Callable:
    """The `(labels, logits, ignore_label) -> scalar` loss a recipe names.

    Example:
        >>> pixel_loss = build_pixel_loss("ohem", ohem_min_kept=1000)
    """
    function = choices.lookup(PIXEL_LOSSES, loss, "train.loss")
    options = {"class_weights": class_weights}
    if loss == "ohem":
        options.update(threshold=ohem_threshold, min_kept=ohem_min_kept)
    return functools.partial(function, **options)


def class_weight_vector(
    weighting, class_pixels: Sequence[int], class_images: Sequence[int], images: int
) -> list[float] | None:
    """The class weights `train.class_weights` means, from a split's histogram.

    Args:
        weighting: `none`, `median_frequency`, `inverse_sqrt`, or the weights.
        class_pixels: pixels of each class in the training split (the manifest's).
        class_images: images each class appears in (the manifest's).
        images: int. Images in the split.

    Returns:
        One float per class, or None for `none`. A class with no pixels gets 1.

    Example:
        >>> class_weight_vector("median_frequency", [90, 10], [2, 1], 2)
        [0.6111111111111112, 2.75]
    """
    if not isinstance(weighting, str):
        return [float(weight) for weight in weighting]
    if weighting == "none":
        return None
    pixels = np.asarray(class_pixels, np.float64)
    present = pixels > 0
    if weighting == "median_frequency":
        # SegNet: freq(c) = pixels of c / pixels of the images c is in (here the
        # split's mean image size times their count), weight = median freq / freq.
        per_image = pixels.sum() / max(images, 1)
        seen = np.maximum(np.asarray(class_images, np.float64), 1.0)
        frequency = pixels / (seen * per_image)
        weights = np.ones_like(pixels)
        weights[present] = np.median(frequency[present]) / frequency[present]
        return weights.tolist()
    if weighting == "inverse_sqrt":
        share = pixels / max(pixels.sum(), 1.0)
        weights = np.ones_like(pixels)
        weights[present] = 1.0 / np.sqrt(share[present])
        weights[present] /= weights[present].mean()
        return weights.tolist()
    raise ValueError(f"train.class_weights: unknown weighting {weighting!r}")


def resize_labels(labels: tf.Tensor, size) -> tf.Tensor:
    """Labels [N, H, W] resized to `size` (height, width) by nearest neighbour."""
    resized = tf.image.resize(labels[..., None], size, method="nearest")
    return tf.cast(resized[..., 0], labels.dtype)


def segmentation_loss(
    labels: tf.Tensor,
    outputs: tf.Tensor | Mapping[str, tf.Tensor],
    ignore_label: int = 255,
    pixel_loss: Callable = valid_pixel_cross_entropy,
) -> tf.Tensor:
    """The training loss of one logits tensor, or the sum over a dict of them.

    Args:
        labels: int [N, H, W] at input resolution.
        outputs: logits [N, H, W, C], or the dict `build_model(...,
            include_scale_logits=True)` returns (`logits` plus `scale_i` at each scale's
            size).
        ignore_label: int. Defaults to 255.
        pixel_loss: `(labels, logits, ignore_label) -> scalar` (`build_pixel_loss`);
            defaults to the seed's cross-entropy.

    Returns:
        float32 scalar.
    """
    if not isinstance(outputs, Mapping):
        outputs = {"logits": outputs}
    total = 0.0
    for logits in outputs.values():
        target = labels
        if logits.shape[1:3] != labels.shape[1:3] or None in logits.shape[1:3]:
            target = resize_labels(labels, tf.shape(logits)[1:3])
        total += pixel_loss(target, logits, ignore_label)
    return total
