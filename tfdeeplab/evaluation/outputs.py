"""What an evaluation writes: the metrics table, the JSON record, and
predictions in each benchmark's own submission format."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.atomic_files import OutputError, write_atomically, write_json
from tfdeeplab.catalog.datasets import DatasetDescriptor

__all__ = [
    "metrics_json",
    "metrics_table",
    "submission_writer",
    "write_json",
]


def metrics_table(metrics: dict, class_names: Sequence[str]) -> str:
    """Every class's IoU, then mIoU, pixel accuracy and mean accuracy, in percent."""
    width = max(len(name) for name in [*class_names, "pixel accuracy"])
    lines = [f"{'class':<{width}}  IoU"]
    for name, iou in zip(class_names, metrics["class_iou"], strict=True):
        lines.append(
            f"{name:<{width}}  " + ("  -" if np.isnan(iou) else f"{100 * iou:5.2f}")
        )
    lines.append(f"{'mIoU':<{width}}  {100 * metrics['miou']:5.2f}")
    lines.append(f"{'pixel accuracy':<{width}}  {100 * metrics['pixel_accuracy']:5.2f}")
    lines.append(f"{'mean accuracy':<{width}}  {100 * metrics['mean_accuracy']:5.2f}")
    return "\n".join(lines)


def metrics_json(
    metrics: dict, matrix: np.ndarray, class_names: Sequence[str], **facts
) -> dict:
    """The JSON record of an evaluation (fractions in 0..1; NaN IoU as null)."""
    return {
        "miou": metrics["miou"],
        "pixel_accuracy": metrics["pixel_accuracy"],
        "mean_accuracy": metrics["mean_accuracy"],
        "class_iou": {
            name: None if np.isnan(iou) else float(iou)
            for name, iou in zip(class_names, metrics["class_iou"], strict=True)
        },
        "confusion_matrix": np.asarray(matrix).tolist(),
        **facts,
    }


def submission_writer(
    descriptor: DatasetDescriptor, directory: Path
) -> Callable[[str, np.ndarray], None]:
    """A function (image id, label map of class ids) writing one prediction file
    in the benchmark's format (`descriptor.submission`).

    VOC: `<id>.png`, a palette PNG of class indices in the VOC colours. Cityscapes:
    `<id>_leftImg8bit.png`, a one-channel PNG of label ids (train ids mapped back
    through cityscapesscripts' table), as its evaluation script expects. Each file
    is written whole or not at all.

    Raises:
        OutputError: `directory` cannot be made or written (before any image).

    Example:
        >>> write = submission_writer(dataset_descriptor("voc"), Path("predictions"))
        >>> write("2007_000033", labels)
    """
    submission = descriptor.submission
    values = submission.values()
    palette = descriptor.palette().ravel().tolist() if submission.palette else None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{directory}: cannot write it ({error.strerror})") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{directory}: cannot write it (permission denied)")

    def write(image_id: str, labels: np.ndarray) -> None:
        png = Image.fromarray(values[np.clip(labels, 0, 255).astype(np.uint8)])
        if palette is not None:
            png.putpalette(palette)  # VOC's format: palette indices are the classes
        name = submission.file_name.format(id=image_id)
        if Path(name).name != name or name.startswith("."):  # shards of another tool
            raise OutputError(
                f"{directory}: image id {image_id!r} is a path, not a file name; "
                "predictions are written by id"
            )
        write_atomically(
            directory / name, lambda temporary: png.save(temporary, format="PNG")
        )

    return write
