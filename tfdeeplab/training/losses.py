"""The segmentation loss of SPEC §3: softmax cross-entropy at input resolution.

Pixels labelled `ignore_label` do not count; the loss is the mean over the valid pixels
of the batch a replica sees (how gradients then combine across replicas is the
trainer's `gradient_reduction`). Multi-scale models sum the loss of every output: the
fused logits and each scale's logits, against the labels resized (nearest) to that
scale's size.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf


def valid_pixel_cross_entropy(
    labels: tf.Tensor, logits: tf.Tensor, ignore_label: int = 255
) -> tf.Tensor:
    """Mean softmax cross-entropy over the pixels whose label is not `ignore_label`.

    Args:
        labels: int [N, H, W] class ids.
        logits: float [N, H, W, C].
        ignore_label: int. Label of pixels that do not count. Defaults to 255.

    Returns:
        float32 scalar; 0 when no pixel is valid.

    Example:
        >>> loss = valid_pixel_cross_entropy(labels, model(images))
    """
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, ignore_label)
    safe_labels = tf.where(valid, labels, 0)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=safe_labels, logits=tf.cast(logits, tf.float32)
    )
    weights = tf.cast(valid, tf.float32)
    return tf.math.divide_no_nan(
        tf.reduce_sum(per_pixel * weights), tf.reduce_sum(weights)
    )


def resize_labels(labels: tf.Tensor, size) -> tf.Tensor:
    """Labels [N, H, W] resized to `size` (height, width) by nearest neighbour."""
    resized = tf.image.resize(labels[..., None], size, method="nearest")
    return tf.cast(resized[..., 0], labels.dtype)


def segmentation_loss(
    labels: tf.Tensor,
    outputs: tf.Tensor | Mapping[str, tf.Tensor],
    ignore_label: int = 255,
) -> tf.Tensor:
    """The training loss of one logits tensor, or the sum over a dict of them.

    Args:
        labels: int [N, H, W] at input resolution.
        outputs: logits [N, H, W, C], or the dict `build_model(...,
            include_scale_logits=True)` returns (`logits` plus `scale_i` at each scale's
            size).
        ignore_label: int. Defaults to 255.

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
        total += valid_pixel_cross_entropy(target, logits, ignore_label)
    return total
