"""Confusion matrices over labelled pixels, and mIoU, pixel and mean accuracy.

Rows are ground-truth classes, columns predicted classes; pixels labelled
`ignore_label` (or any value outside [0, num_classes)) are not counted. A class
absent from both the ground truth and the predictions has no IoU and is left out of
the mean, as in the DeepLab and Cityscapes evaluation scripts.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def confusion_matrix(
    labels: tf.Tensor, predictions: tf.Tensor, num_classes: int
) -> tf.Tensor:
    """Counts of (truth, prediction) pairs over pixels whose label is a class.

    Args:
        labels: int tensor of any shape; values outside [0, num_classes) (the
            ignore label) are skipped.
        predictions: int tensor of the same shape.
        num_classes: int.

    Returns:
        int64 tensor [num_classes, num_classes].

    Example:
        >>> confusion_matrix([0, 1, 255], [0, 0, 1], 2).numpy()
        array([[1, 0],
               [1, 0]])
    """
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
    valid = (labels >= 0) & (labels < num_classes)
    pairs = tf.boolean_mask(labels * num_classes + predictions, valid)
    counts = tf.math.bincount(
        pairs, minlength=num_classes * num_classes, dtype=tf.int64
    )
    return tf.reshape(counts[: num_classes * num_classes], [num_classes, num_classes])


def segmentation_metrics(matrix: np.ndarray) -> dict:
    """mIoU, pixel accuracy, mean class accuracy and per-class IoU of a matrix.

    Args:
        matrix: array [C, C], rows truth, columns prediction.

    Returns:
        dict with `miou`, `pixel_accuracy`, `mean_accuracy` (floats) and
        `class_iou` (array [C], NaN for classes absent from truth and prediction).

    Example:
        >>> segmentation_metrics(np.array([[3, 1], [0, 4]]))["miou"]
        0.775
    """
    matrix = np.asarray(matrix, np.float64)
    true_positives = np.diag(matrix)
    truth = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    union = truth + predicted - true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        class_iou = np.where(union > 0, true_positives / union, np.nan)
        class_accuracy = np.where(truth > 0, true_positives / truth, np.nan)
    total = matrix.sum()
    return {
        "miou": float(np.nanmean(class_iou)) if np.any(union > 0) else 0.0,
        "pixel_accuracy": float(true_positives.sum() / total) if total else 0.0,
        "mean_accuracy": float(np.nanmean(class_accuracy))
        if np.any(truth > 0)
        else 0.0,
        "class_iou": class_iou,
    }


class ConfusionMatrix:
    """A confusion matrix accumulated over images.

    Args:
        num_classes: int.

    Example:
        >>> matrix = ConfusionMatrix(21)
        >>> matrix.update(label, prediction)  # any number of times
        >>> matrix.metrics()["miou"]
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.counts = np.zeros([num_classes, num_classes], np.int64)

    def update(self, labels, predictions) -> np.ndarray:
        """Add the pixels of one or more images (ignore-labelled ones skipped);
        returns their own matrix (int64 [C, C])."""
        added = confusion_matrix(labels, predictions, self.num_classes).numpy()
        self.counts += added
        return added

    def metrics(self) -> dict:
        """`segmentation_metrics` of everything added so far."""
        return segmentation_metrics(self.counts)
