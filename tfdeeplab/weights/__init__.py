"""Published pretrained weights: readers of each format and the importer.

`python -m tfdeeplab.weights import --format FORMAT --source FILE --recipe RECIPE
--out FILE` (see `__main__`); `load_weights(model, path)` is the loader `--init`
uses. Names are imported on first use (see `tfdeeplab.lazy_imports`).
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "caffe_model": ["read_caffemodel"],
        "importer": ["FORMATS", "ImportPlan", "WeightsImportError", "plan_import"],
        "keras_h5": ["read_keras_h5"],
        "loader": ["load_weights"],
        "mxnet_params": ["WeightsFormatError", "read_mxnet_params"],
        "torch_state": ["TorchUnavailableError", "read_torch_state"],
    },
)
