"""The jobs a user runs, each one library call taking a recipe and paths and
returning a typed result; the command lines, the demo and the comparison call them.

- `train(recipe, workdir) -> RunSummary` (`train_job`);
- `evaluate(recipe, checkpoint=...) -> EvaluationReport` (`evaluate_job`);
- `export(recipe, out, checkpoint=...) -> ExportResult` (`export_job`), and
  `export_file(recipe, out, file_format="tflite"|"onnx", ...) -> FileExportResult`
  (`file_export_job`);
- `Predictor.from_recipe(...)` / `Predictor.from_saved_model(...)` and
  `predict_images(predictor, images, out) -> PredictionReport` (`predict_job`);
- `describe(recipe) -> ModelDescription` (`describe_job`);
- `import_weights(recipe, format, source, out) -> ImportPlan` (`weights_job`).

Names are imported on first use (see `tfdeeplab.lazy_imports`): each job loads
TensorFlow, and nothing here should before a command has checked its arguments.
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "describe_job": ["ModelDescription", "describe"],
        "evaluate_job": ["EvaluationReport", "evaluate"],
        "export_job": ["ExportResult", "export"],
        "file_export_job": ["FileExportResult", "export_file"],
        "predict_job": ["PredictionReport", "Predictor", "predict_images"],
        "train_job": ["RunSummary", "train"],
        "weights_job": ["import_weights", "inspect_weights"],
    },
)
