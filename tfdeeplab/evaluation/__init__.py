"""Evaluation: confusion matrices and the segmentation metrics read from them.

Names are imported on first use (see `tfdeeplab.lazy_imports`).
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "builder": ["inference_settings"],
        "confusion": ["ConfusionMatrix", "confusion_matrix", "segmentation_metrics"],
        "inference": ["InferenceSettings", "predict_probabilities"],
    },
)
