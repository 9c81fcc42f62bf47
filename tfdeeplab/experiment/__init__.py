"""The jobs a user runs, each one library call taking an `Experiment` (or a
recipe) and paths and returning a typed result; the command lines call them.

- `Experiment.from_recipe(recipe)` / `Experiment.from_file(path, overrides)`: the
  recipe with its dataset resolved, its inference settings, and its model with
  weights (`experiment`);
- `train(experiment, workdir) -> RunSummary` (`train_job`);
- `evaluate(experiment, checkpoint=...) -> EvaluationReport` (`evaluate_job`);
- `export(experiment, out, checkpoint=...) -> ExportResult` (`export_job`), and
  `export_file(experiment, out, file_format="tflite"|"onnx", ...) ->
  FileExportResult` (`file_export_job`);
- `Predictor.from_recipe(...)` / `Predictor.from_saved_model(...)` and
  `predict_images(predictor, images, out) -> PredictionReport` (`predict_job`);
- `describe(experiment) -> ModelDescription` (`describe_job`);
- `import_weights(experiment, format, source, out) -> ImportPlan` (`weights_job`);
- `compare(recipes, out, ...) -> Comparison` (`compare_job`);
- `demo(directory, ...) -> DemoResult` (`demo_job`);
- `plan_reproduction(recipe, data, runs) -> ReproductionPlan` and
  `reproduce(plan, data) -> record` (`reproduce_job`).

Importing this package loads TensorFlow: the commands import it after checking
their arguments.
"""

from tfdeeplab.experiment.compare_job import ComparedRun, Comparison, compare
from tfdeeplab.experiment.demo_job import DemoResult, demo
from tfdeeplab.experiment.describe_job import ModelDescription, describe
from tfdeeplab.experiment.evaluate_job import EvaluationReport, evaluate
from tfdeeplab.experiment.experiment import Experiment, WeightedModel
from tfdeeplab.experiment.export_job import ExportResult, export
from tfdeeplab.experiment.file_export_job import FileExportResult, export_file
from tfdeeplab.experiment.predict_job import PredictionReport, Predictor, predict_images
from tfdeeplab.experiment.reproduce_job import (
    ReproductionPlan,
    plan_reproduction,
    reproduce,
)
from tfdeeplab.experiment.train_job import RunSummary, train
from tfdeeplab.experiment.weights_job import import_weights, inspect_weights

__all__ = [
    "ComparedRun",
    "Comparison",
    "DemoResult",
    "EvaluationReport",
    "Experiment",
    "ExportResult",
    "FileExportResult",
    "ModelDescription",
    "PredictionReport",
    "Predictor",
    "ReproductionPlan",
    "RunSummary",
    "WeightedModel",
    "compare",
    "demo",
    "describe",
    "evaluate",
    "export",
    "export_file",
    "import_weights",
    "inspect_weights",
    "plan_reproduction",
    "predict_images",
    "reproduce",
    "train",
]
