"""TensorBoard scalars and validation panels of a training run (the chief's only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from tfdeeplab.training.validation import ValidationResult, pad_panels


class TensorBoardSummaries:
    """Writes a run's TensorBoard events; a no-op writer when `directory` is None.

    Args:
        directory: Path or None. The run's `tensorboard/`; None on workers that
            write nothing.
        class_names: sequence of str. Name of each class, for per-class IoU tags.

    Example:
        >>> summaries = TensorBoardSummaries(run.tensorboard, ["background", ...])
        >>> summaries.scalars(20, {"train/loss": 0.7})
    """

    def __init__(self, directory: Path | None, class_names: Sequence[str]):
        self.directory = directory
        self.class_names = list(class_names)
        self._writer = None

    @property
    def writer(self):
        """The summary writer, made (with its event file) on first use."""
        if self._writer is None:
            self._writer = (
                tf.summary.create_file_writer(str(self.directory))
                if self.directory
                else tf.summary.create_noop_writer()
            )
        return self._writer

    def scalars(self, step: int, values: dict) -> None:
        """Write `values` ({tag: number}) at `step`."""
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def pictures(self, step: int, pictures: dict) -> None:
        """Write `pictures` ({tag: uint8 [H, W, 3]}) as images at `step`."""
        with self.writer.as_default(step=step):
            for name, pixels in pictures.items():
                tf.summary.image(name, pixels[None], max_outputs=1)

    def validation(self, step: int, result: ValidationResult) -> None:
        """mIoU, accuracies, per-class IoU (by name) and the image panels; flushes."""
        metrics = result.metrics
        values = {
            "validation/miou": metrics["miou"],
            "validation/pixel_accuracy": metrics["pixel_accuracy"],
            "validation/mean_accuracy": metrics["mean_accuracy"],
        }
        for name, iou in zip(self.class_names, metrics["class_iou"], strict=True):
            if not math.isnan(iou):
                values[f"validation_class_iou/{name}"] = float(iou)
        self.scalars(step, values)
        if result.panels:
            with self.writer.as_default(step=step):
                tf.summary.image(
                    "validation/input_truth_prediction",
                    pad_panels(result.panels),
                    max_outputs=len(result.panels),
                )
        self.flush()

    def flush(self) -> None:
        """Write out everything buffered."""
        if self._writer is not None:
            self._writer.flush()
