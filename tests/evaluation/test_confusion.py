"""Confusion matrices and the metrics read from them, against hand counts."""

import numpy as np

from tfdeeplab.evaluation.confusion import (
    ConfusionMatrix,
    confusion_matrix,
    segmentation_metrics,
)


def test_confusion_matrix_counts_pairs_and_skips_ignored_pixels():
    labels = np.array([[0, 1, 1], [2, 255, 2]])
    predictions = np.array([[0, 1, 2], [2, 0, 0]])
    matrix = confusion_matrix(labels, predictions, 3).numpy()
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [1, 0, 1]])


def test_metrics_by_hand():
    metrics = segmentation_metrics(np.array([[3, 1], [0, 4]]))
    assert np.isclose(metrics["miou"], (3 / 4 + 4 / 5) / 2)
    assert np.isclose(metrics["pixel_accuracy"], 7 / 8)
    assert np.isclose(metrics["mean_accuracy"], (3 / 4 + 1) / 2)


def test_absent_classes_are_left_out_of_the_mean():
    matrix = ConfusionMatrix(4)
    matrix.update(np.array([0, 0, 1]), np.array([0, 0, 1]))
    metrics = matrix.metrics()
    assert metrics["miou"] == 1.0
    assert np.isnan(metrics["class_iou"][2:]).all()
    matrix.update(np.array([2]), np.array([1]))  # class 2 present, never right
    assert np.isclose(matrix.metrics()["miou"], (1 + 0.5 + 0) / 3)
