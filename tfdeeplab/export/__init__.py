"""SavedModel export: the model with its whole inference in the graph.

`python -m tfdeeplab.export RECIPE --checkpoint PATH --out DIR` (see `__main__`).
Names are imported on first use (see `tfdeeplab.lazy_imports`).
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "builder": ["export_assets", "labels_description", "serving_server"],
        "saved_model": ["ExportExistsError", "export_saved_model"],
        "serving": ["SegmentationServer"],
    },
)
