"""TensorBoard summaries: scalar tags, per-class IoU by name, image panels."""

import numpy as np
import tensorflow as tf

from tfdeeplab.training.summaries import TensorBoardSummaries
from tfdeeplab.training.validation import ValidationResult


def written(directory):
    values = {}
    for path in directory.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                values[(value.tag, event.step)] = value
    return values


def test_validation_writes_metrics_named_classes_and_panels(tmp_path):
    summaries = TensorBoardSummaries(tmp_path, ["background", "aeroplane", "bicycle"])
    summaries.scalars(5, {"train/loss": 0.5})
    metrics = {
        "miou": 0.6,
        "pixel_accuracy": 0.9,
        "mean_accuracy": 0.7,
        "class_iou": np.array([0.8, np.nan, 0.4]),
    }
    panels = [np.zeros((2, 6, 3), np.uint8), np.ones((3, 3, 3), np.uint8)]
    summaries.validation(10, ValidationResult(metrics, 2, panels))
    tags = set(written(tmp_path))
    assert ("train/loss", 5) in tags and ("validation/miou", 10) in tags
    assert ("validation_class_iou/background", 10) in tags
    assert ("validation_class_iou/bicycle", 10) in tags
    assert ("validation_class_iou/aeroplane", 10) not in tags  # absent class: no IoU
    assert ("validation/input_truth_prediction", 10) in tags
