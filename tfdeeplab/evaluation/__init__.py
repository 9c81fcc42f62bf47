"""Evaluation: confusion matrices and the segmentation metrics read from them."""

from tfdeeplab.evaluation.confusion import (
    ConfusionMatrix,
    confusion_matrix,
    segmentation_metrics,
)

__all__ = ["ConfusionMatrix", "confusion_matrix", "segmentation_metrics"]
