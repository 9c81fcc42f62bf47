"""What an evaluation writes: the metrics table, the JSON, the confusion picture, and
predictions in each benchmark's own submission format."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.data.palettes import voc_palette


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


def write_json(path: Path, record: dict) -> None:
    """Write `record` as indented JSON (temporary file, then rename)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)


def confusion_picture(matrix: np.ndarray, cell: int = 12) -> np.ndarray:
    """The row-normalised confusion matrix as a grey picture (dark = many pixels).

    Returns:
        uint8 [C * cell, C * cell]; row r is ground-truth class r.
    """
    matrix = np.asarray(matrix, np.float64)
    rows = matrix.sum(1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    grey = (255 * (1 - normalised)).round().astype(np.uint8)
    return np.kron(grey, np.ones((cell, cell), np.uint8))


def _voc_submission(directory: Path):
    palette = voc_palette().ravel().tolist()

    def write(image_id: str, labels: np.ndarray) -> None:
        png = Image.fromarray(labels.astype(np.uint8))
        png.putpalette(palette)  # VOC's format: palette indices are the classes
        png.save(directory / f"{image_id}.png")

    return write


def _cityscapes_submission(directory: Path):
    from cityscapesscripts.helpers.labels import trainId2label

    label_ids = np.zeros(256, np.uint8)
    for train_id, label in trainId2label.items():
        if 0 <= train_id < 255:
            label_ids[train_id] = label.id

    def write(image_id: str, labels: np.ndarray) -> None:
        # cityscapesscripts' evaluation reads labelIds, named after the image.
        Image.fromarray(label_ids[labels.astype(np.uint8)]).save(
            directory / f"{image_id}_leftImg8bit.png"
        )

    return write


SUBMISSION_WRITERS = {"voc": _voc_submission, "cityscapes": _cityscapes_submission}


def submission_writer(
    dataset: str, directory: Path
) -> Callable[[str, np.ndarray], None]:
    """A function (image id, train-id label map) writing one prediction file.

    VOC: `<id>.png`, a palette PNG of class indices in the VOC colours. Cityscapes:
    `<id>_leftImg8bit.png`, a one-channel PNG of label ids (train ids mapped back
    through cityscapesscripts' table), as its evaluation script expects.

    Example:
        >>> write = submission_writer("voc", Path("predictions"))
        >>> write("2007_000033", labels)
    """
    directory.mkdir(parents=True, exist_ok=True)
    return SUBMISSION_WRITERS[dataset](directory)
