"""Evaluating a checkpoint by SPEC §4's protocol: `evaluate(recipe, ...) ->
EvaluationReport`.

The recipe's model with the checkpoint's (or a weights file's) weights, the recipe's
`eval` protocol (scales, sliding window, flip, dense CRF in worker processes),
every image of the split once, one confusion matrix (and, for a report, each
image's own, kept as per-image scores). The report carries every figure and writes
them: a JSON record with its confusion picture, the report folder (`--report DIR`:
pictures, a page, per-image scores), and the run's TensorBoard under `eval/` when
the checkpoint is a trainer's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from tfdeeplab.atomic_files import write_atomically, write_json
from tfdeeplab.config import Recipe
from tfdeeplab.data.builder import eval_dataset
from tfdeeplab.data.records import naming_bad_shards, record_counts
from tfdeeplab.errors import first_line
from tfdeeplab.evaluation import outputs
from tfdeeplab.evaluation.builder import crf_arguments
from tfdeeplab.evaluation.crf import require_crf
from tfdeeplab.evaluation.evaluator import evaluate_split
from tfdeeplab.evaluation.per_image import ImageScores
from tfdeeplab.evaluation.report import (
    WrittenReport,
    check_report_directory,
    confusion_title,
    write_report,
)
from tfdeeplab.evaluation.report_figures import Picture, confusion_picture
from tfdeeplab.evaluation.weights import checkpoint_step, require_one_source
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.run_directory import run_directory_of
from tfdeeplab.training.strategy import evaluation_strategy
from tfdeeplab.training.summaries import TensorBoardSummaries
from tfdeeplab.version import version_line


@dataclasses.dataclass
class EvaluationReport:
    """Everything one evaluation measured, and the settings it ran with.

    Args:
        recipe: str. The recipe's name.
        split: str. The split evaluated.
        checkpoint: str. The checkpoint prefix or weights file evaluated.
        step: int or None. The training step of a trainer's checkpoint.
        settings: dict. Scales, window, stride, flip, tile batch, CRF, split.
        class_names: list of str. Of each class id.
        metrics: dict. mIoU, pixel and mean accuracy, `class_iou` (NaN for a
            class absent from truth and prediction).
        matrix: int64 [C, C]. The confusion matrix (rows truth).
        images: int. Images evaluated.
        seconds: float. Wall time of the evaluation.
        image_scores: ImageScores or None. Per-image scores and the worst
            images, kept when a report was asked for.
    """

    recipe: str
    split: str
    checkpoint: str
    step: int | None
    settings: dict
    class_names: list[str]
    metrics: dict
    matrix: np.ndarray
    images: int
    seconds: float
    image_scores: ImageScores | None = None

    @property
    def miou(self) -> float:
        """The mean IoU over the classes, 0..1."""
        return self.metrics["miou"]

    def table(self) -> str:
        """Every class's IoU, mIoU, pixel and mean accuracy, in percent."""
        return outputs.metrics_table(self.metrics, self.class_names)

    def to_json(self) -> dict:
        """The JSON record: the figures, the confusion matrix, the settings and
        the code that made them (`code`: `version.version_line`)."""
        return outputs.metrics_json(
            self.metrics,
            self.matrix,
            self.class_names,
            images=self.images,
            checkpoint=self.checkpoint,
            recipe=self.recipe,
            settings=self.settings,
            code=version_line(),
        )

    def write_json(
        self, path: str | Path, confusion: Picture | None = None
    ) -> tuple[Path, Path]:
        """Write the JSON record and the confusion picture beside it
        (`X.confusion.png`, drawn unless given), each whole or not at all;
        returns both paths."""
        path = Path(path)
        write_json(path, self.to_json())
        picture = path.with_suffix(".confusion.png")
        if confusion is None:
            title = confusion_title(self.recipe, self.split, self.images)
            confusion = confusion_picture(self.matrix, self.class_names, title)
        image = Image.fromarray(confusion.pixels)
        write_atomically(picture, lambda temporary: image.save(temporary, "PNG"))
        return path, picture

    def write_report(
        self, directory: str | Path, palette: np.ndarray, ignore_label: int
    ) -> WrittenReport:
        """Write the report folder (`evaluation.report.write_report`).

        Args:
            directory: str or Path. New, empty or an earlier report.
            palette: uint8 [256, 3]. The dataset's colours.
            ignore_label: int.

        Raises:
            ValueError: the evaluation kept no per-image scores.
            OutputError: the folder cannot be written.
        """
        if self.image_scores is None:
            raise ValueError("the evaluation kept no per-image scores (report=None)")
        return write_report(
            directory,
            metrics=self.metrics,
            matrix=self.matrix,
            class_names=self.class_names,
            scores=self.image_scores,
            palette=palette,
            ignore_label=ignore_label,
            facts={
                "recipe": self.recipe,
                "split": self.split,
                "checkpoint": self.checkpoint,
                "step": self.step,
                "images": self.images,
                "seconds": self.seconds,
                "settings": self.settings,
            },
        )

    def write_tensorboard(
        self, directory: str | Path, step: int, pictures: dict | None = None
    ) -> None:
        """The figures under `eval/` and `eval_class_iou/` at `step`, and a
        report's pictures ({name: Picture}) as images `eval/<name>`."""
        summaries = TensorBoardSummaries(Path(directory), self.class_names)
        values = {
            f"eval/{key}": self.metrics[key]
            for key in ("miou", "pixel_accuracy", "mean_accuracy")
        }
        for name, iou in zip(self.class_names, self.metrics["class_iou"], strict=True):
            if not np.isnan(iou):
                values[f"eval_class_iou/{name}"] = float(iou)
        summaries.scalars(step, values)
        if pictures:
            summaries.pictures(
                step, {f"eval/{name}": p.pixels for name, p in pictures.items()}
            )
        summaries.flush()


def evaluate(
    experiment: Experiment | Recipe,
    *,
    checkpoint: str | Path | None = None,
    weights: str | Path | None = None,
    split: str | None = None,
    save_predictions: str | Path | None = None,
    json_path: str | Path | None = None,
    report: str | Path | None = None,
    report_images: int = 8,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> EvaluationReport:
    """Evaluate a checkpoint or weights file on a split by the recipe's protocol.

    Args:
        experiment: Experiment (or a Recipe): the model, the data and the `eval`
            protocol.
        checkpoint: str, Path or None. A checkpoint prefix or a run directory
            (its newest checkpoint, by the files).
        weights: str, Path or None. A `.weights.h5` or `.keras` file instead.
        split: str or None. The split; defaults to `recipe.data.eval_split`.
        save_predictions: str, Path or None. A folder for each prediction in the
            benchmark's format (`DatasetDescriptor.submission`).
        json_path: str, Path or None. Also write the JSON record and the
            confusion picture there.
        report: str, Path or None. A folder for the report (`write_report`):
            confusion.png, class_iou.png, worst.png, index.html, report.json,
            from the same pass; new, empty or an earlier report.
        report_images: int. The worst images the report shows. Defaults to 8.
        progress: bool. Show a progress bar.
        log: function taking one line of text (what is evaluated, with what).

    Returns:
        EvaluationReport. A trainer's checkpoint also has its figures (and the
        report's pictures) written to its run's TensorBoard under `eval/`.

    Raises:
        TfdeeplabError: one line each, before any work where it can be: missing
            or corrupt shards, a missing CRF package, weights that are missing or
            do not fit, a report folder that is not one, a dead CRF worker, an
            empty split.

    Example:
        >>> report = evaluate(Experiment.from_file("voc"),
        ...                   checkpoint="runs/voc")
        >>> print(report.table())
    """
    experiment = Experiment.of(experiment)
    recipe = experiment.recipe
    split = split or recipe.data.eval_split
    files = experiment.shard_files(split)
    scores = _image_scores(report, experiment.num_classes, report_images)
    crf = _crf(recipe)
    strategy, built = _weighted_model(experiment, checkpoint, weights)
    settings = experiment.settings
    log(_evaluating(built.loaded, recipe.data.root, split, settings, crf, strategy))
    images = naming_bad_shards(
        iter(eval_dataset(recipe, files)), files, experiment.verifier()
    )
    result = evaluate_split(
        built.model,
        images,
        settings,
        experiment.num_classes,
        crf=crf,
        crf_workers=recipe.eval.crf.workers,
        strategy=strategy,
        on_prediction=_prediction_writer(experiment.dataset, save_predictions),
        on_scored=_scorer(scores),
        progress=progress,
        total=sum(record_counts(files)),
    )
    settings = {**dataclasses.asdict(settings), "crf": crf, "split": split}
    evaluation = _report(
        experiment, split, built.loaded, checkpoint, settings, result, scores
    )
    _write(evaluation, experiment.dataset, json_path, report, log)
    return evaluation


def _image_scores(report, num_classes: int, worst: int) -> ImageScores | None:
    """Per-image scores to keep for a report folder (checked first), or None."""
    if report is None:
        return None
    check_report_directory(report)  # before any work
    return ImageScores(num_classes, worst=worst)


def _crf(recipe: Recipe) -> dict | None:
    """The CRF's arguments, its package checked before any work; None when off."""
    if not recipe.eval.crf.enabled:
        return None
    require_crf()
    return crf_arguments(recipe)


def _evaluating(loaded, root, split, settings, crf, strategy) -> str:
    """The line saying what is evaluated, on what, how."""
    replicas = strategy.num_replicas_in_sync
    return (
        f"evaluating {loaded} on {root} {split}: scales {list(settings.scales)}, "
        f"window {list(settings.window)}, flip {settings.flip}, CRF "
        f"{'on' if crf else 'off'}" + (f", {replicas} replicas" if replicas > 1 else "")
    )


def _weighted_model(experiment: Experiment, checkpoint, weights):
    """(strategy, the model built under it with the checkpoint's or the weights
    file's weights)."""
    require_one_source(checkpoint, weights)
    strategy = evaluation_strategy(experiment.recipe.train.distribution)
    built = experiment.build_model(
        checkpoint=checkpoint, weights=weights, strategy=strategy
    )
    return strategy, built


def _prediction_writer(descriptor, folder):
    """The evaluator's `on_prediction` writing each label map, or None."""
    if folder is None:
        return None
    write = outputs.submission_writer(descriptor, Path(folder))
    return lambda example, labels: write(example["id"].decode(), labels)


def _scorer(scores: ImageScores | None):
    """The evaluator's `on_scored` keeping per-image scores, or None."""
    if scores is None:
        return None

    def score(example, labels, matrix):
        scores.add(
            example["id"].decode(errors="replace"),
            matrix,
            example["rgb"],
            example["label"],
            labels,
        )

    return score


def _report(experiment, split, loaded, checkpoint, settings, result, scores):
    """The report of a result; a trainer's checkpoint's with its step."""
    run = run_directory_of(loaded) if checkpoint is not None else None
    return EvaluationReport(
        recipe=experiment.name,
        split=split,
        checkpoint=loaded,
        step=checkpoint_step(loaded) if run else None,
        settings=settings,
        class_names=list(experiment.class_names),
        metrics=result.metrics,
        matrix=result.matrix,
        images=result.images,
        seconds=result.seconds,
        image_scores=scores,
    )


def _write(report: EvaluationReport, descriptor, json_path, report_directory, log):
    """The report written as a report folder, as JSON and to the run's
    TensorBoard, where each goes; the pictures drawn once for all three. The
    TensorBoard copy is a courtesy: a run folder it cannot be written to is one
    warning line, the evaluation asked for stands."""
    pictures = {}
    if report_directory is not None:
        written = report.write_report(
            report_directory, descriptor.palette(), descriptor.ignore_label
        )
        pictures = written.pictures
    if json_path is not None:
        report.write_json(json_path, pictures.get("confusion"))
    if report.step is not None:  # a trainer's checkpoint
        run = run_directory_of(report.checkpoint)
        try:
            report.write_tensorboard(run.tensorboard, report.step, pictures)
        except (tf.errors.OpError, OSError) as error:
            reason = first_line(error)
            log(
                f"warning: {run.tensorboard}: the evaluation's TensorBoard events "
                f"were not written ({reason}); the results stand"
            )
