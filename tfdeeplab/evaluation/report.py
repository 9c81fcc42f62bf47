"""`evaluate --report DIR`: the evaluation as pictures, a page and a JSON record.

Written whole or not at all (a hidden folder beside DIR, renamed into place):

- `confusion.png`, `class_iou.png`, `worst.png` (`report_figures`);
- `index.html` (`report_page`), viewable from the disk;
- `report.json`: the figures, each class's IoU, pixel share and image count, the
  worst images and every image's scores, the settings.

DIR may be new, empty, or an earlier report (its `report.json` says so), which is
replaced; anything else is refused before the evaluation starts, so no folder of
the user's is ever swept away.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.atomic_files import OutputError, atomic_path
from tfdeeplab.evaluation import report_figures
from tfdeeplab.evaluation.per_image import ImageScores
from tfdeeplab.evaluation.report_page import report_page

KIND = "tfdeeplab evaluation report"
INDEX_FILE = "index.html"
FILES = (INDEX_FILE, "report.json", "confusion.png", "class_iou.png", "worst.png")


def check_report_directory(directory: str | Path) -> Path:
    """Refuse, before any work, a DIR that `write_report` could not (or must not)
    replace.

    Raises:
        OutputError: one line naming DIR: a file is in the way, a folder holding
            something other than an earlier report, or no permission to write.

    Example:
        >>> check_report_directory("runs/voc/report")
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory}: cannot write the report there: not a folder")
    if directory.is_dir() and any(directory.iterdir()):
        if not _is_report(directory):
            raise OutputError(
                f"{directory}: holds files but no earlier report (report.json); "
                "give a new or empty folder"
            )
    existing = directory.parent
    while not existing.exists() and not existing.is_symlink():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{directory}: cannot write the report there: {existing} is not a folder"
        )
    _probe_writable(directory, existing)
    return directory


def _probe_writable(directory: Path, folder: Path) -> None:
    """Make and remove a folder in `folder`: permission bits say nothing to root,
    and a read-only file system or sysfs refuses what they allow."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".report-probe-", dir=folder))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise OutputError(
            f"{directory}: cannot write the report there ({folder}: {reason})"
        ) from None


def _is_report(directory: Path) -> bool:
    try:
        record = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("kind") == KIND


@dataclasses.dataclass(frozen=True)
class WrittenReport:
    """A written report: its folder and its three pictures (for TensorBoard)."""

    directory: Path
    pictures: dict[str, report_figures.Picture]
    record: dict


def report_record(
    *,
    metrics: dict,
    matrix: np.ndarray,
    class_names: Sequence[str],
    scores: ImageScores,
    facts: dict,
) -> dict:
    """The report's JSON record (fractions 0..1, NaN as null).

    Args:
        metrics: dict from `segmentation_metrics` of `matrix`.
        matrix: int [C, C]. The split's confusion matrix.
        class_names: C names.
        scores: ImageScores of the same pass.
        facts: dict. `recipe`, `split`, `checkpoint`, `step`, `images`,
            `seconds`, `settings`.
    """
    truth = np.asarray(matrix, np.int64).sum(1)
    labelled = max(1, int(truth.sum()))
    holding = scores.class_images()
    classes = [
        {
            "id": class_id,
            "name": name,
            "iou": _number(metrics["class_iou"][class_id]),
            "pixel_share": float(truth[class_id] / labelled),
            "pixels": int(truth[class_id]),
            "images": int(holding[class_id]),
        }
        for class_id, name in enumerate(class_names)
    ]
    worst = [
        {
            "id": image.image_id,
            "miou": image.miou,
            "pixel_accuracy": image.pixel_accuracy,
            "size": list(image.size),
        }
        for image in scores.worst_images()
    ]
    return {
        "kind": KIND,
        **facts,
        "miou": metrics["miou"],
        "pixel_accuracy": metrics["pixel_accuracy"],
        "mean_accuracy": metrics["mean_accuracy"],
        "classes": classes,
        "worst": worst,
        "per_image": scores.records(list(class_names)),
        "confusion_matrix": np.asarray(matrix).tolist(),
    }


def confusion_title(recipe: str, split: str, images: int) -> str:
    """The confusion picture's title, in the report and beside `--json` alike."""
    return f"Confusion matrix, each row normalised: {recipe}, {split} ({images} images)"


def report_pictures(
    record: dict,
    matrix: np.ndarray,
    scores: ImageScores,
    palette: np.ndarray,
    ignore_label: int,
) -> dict[str, report_figures.Picture]:
    """The three pictures of a report, by file stem."""
    names = [entry["name"] for entry in record["classes"]]
    class_iou = np.array(
        [
            math.nan if entry["iou"] is None else entry["iou"]
            for entry in record["classes"]
        ]
    )
    share = np.array([entry["pixel_share"] for entry in record["classes"]])
    split = f"{record['recipe']}, {record['split']} ({record['images']} images)"
    title = confusion_title(record["recipe"], record["split"], record["images"])
    return {
        "confusion": report_figures.confusion_picture(matrix, names, title),
        "class_iou": report_figures.class_iou_picture(
            class_iou,
            record["miou"],
            share,
            names,
            f"IoU of each class, worst first: {split}",
        ),
        "worst": report_figures.worst_picture(
            scores.worst_images(), palette, ignore_label
        ),
    }


def write_report(
    directory: str | Path,
    *,
    metrics: dict,
    matrix: np.ndarray,
    class_names: Sequence[str],
    scores: ImageScores,
    palette: np.ndarray,
    ignore_label: int,
    facts: dict,
) -> WrittenReport:
    """Write the report folder, whole or not at all.

    Args:
        directory: str or Path. DIR: new, empty or an earlier report (replaced).
        metrics: dict from `segmentation_metrics` of `matrix`.
        matrix: int [C, C]. The split's confusion matrix (rows truth).
        class_names: C names.
        scores: ImageScores kept during the same pass.
        palette: uint8 [256, 3]. The dataset's colours.
        ignore_label: int.
        facts: dict. `recipe`, `split`, `checkpoint`, `step`, `images`,
            `seconds`, `settings` (scales, window, flip, CRF...).

    Returns:
        WrittenReport.

    Raises:
        OutputError: DIR cannot be written, or is a folder that is not a report.

    Example:
        >>> write_report("report", metrics=m, matrix=cm, class_names=names,
        ...              scores=scores, palette=palette, ignore_label=255,
        ...              facts={"recipe": "voc", ...})
    """
    directory = check_report_directory(directory)
    record = report_record(
        metrics=metrics,
        matrix=matrix,
        class_names=class_names,
        scores=scores,
        facts=facts,
    )
    pictures = report_pictures(record, matrix, scores, palette, ignore_label)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{directory}: cannot write it ({error.strerror})") from None
    with atomic_path(directory, directory=True) as temporary:
        for stem, picture in pictures.items():
            Image.fromarray(picture.pixels).save(temporary / f"{stem}.png", "PNG")
        (temporary / "report.json").write_text(
            json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8"
        )
        (temporary / INDEX_FILE).write_text(report_page(record), encoding="utf-8")
    return WrittenReport(directory, pictures, record)


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
