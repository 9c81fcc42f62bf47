"""`labels.json`, the SavedModel asset that says what its label indices mean.

One module for the format, imported by its writer (`export.builder`) and its
reader (`experiment.Predictor.from_saved_model`):

    {"dataset": "voc", "num_classes": 21, "class_names": [...21 names],
     "palette": [...21 [r, g, b]], "ignore_label": 255, "ignore_colour": [r, g, b]}
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.errors import TfdeeplabError

LABELS_FILE = "labels.json"
KEYS = (
    "dataset",
    "num_classes",
    "class_names",
    "palette",
    "ignore_label",
    "ignore_colour",
)


class LabelsFileError(TfdeeplabError, ValueError):
    """A `labels.json` that cannot be read; the message names the file and key."""


@dataclasses.dataclass(frozen=True)
class Labels:
    """What a model's label indices mean.

    Args:
        dataset: str. The dataset's name.
        class_names: tuple of str. Of each class id.
        colours: uint8 [256, 3]. The colour of each label value (classes, the
            ignore label; black elsewhere).
        ignore_label: int.
    """

    dataset: str
    class_names: tuple[str, ...]
    colours: np.ndarray
    ignore_label: int

    @property
    def num_classes(self) -> int:
        """Class ids are 0..num_classes-1."""
        return len(self.class_names)


def labels_record(descriptor: DatasetDescriptor, num_classes: int) -> dict:
    """The JSON of `labels.json` for a model of `num_classes` classes.

    Example:
        >>> labels_record(dataset_descriptor("voc"), 21)["class_names"][15]
        'person'
    """
    palette = descriptor.palette()
    return {
        "dataset": descriptor.name,
        "num_classes": num_classes,
        "class_names": [descriptor.class_name(i) for i in range(num_classes)],
        "palette": palette[:num_classes].tolist(),
        "ignore_label": descriptor.ignore_label,
        "ignore_colour": palette[descriptor.ignore_label].tolist(),
    }


def read_labels(path: str | Path) -> Labels:
    """Read and check a `labels.json`.

    Raises:
        LabelsFileError: one line naming the file: missing, not JSON, a key
            missing or of the wrong kind.

    Example:
        >>> read_labels("exported/voc/assets/labels.json").class_names[15]
        'person'
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelsFileError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelsFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise LabelsFileError(f"{path}: expected a JSON object with {', '.join(KEYS)}")
    missing = [key for key in KEYS if key not in record]
    if missing:
        raise LabelsFileError(
            f"{path}: no {missing[0]!r} key; export the model again to rewrite it"
        )
    return _labels(record, path)


def _labels(record: dict, path: Path) -> Labels:
    count, names = record["num_classes"], record["class_names"]
    ignore = record["ignore_label"]

    def wrong(key: str, expected: str) -> LabelsFileError:
        return LabelsFileError(f"{path}: {key}: expected {expected}")

    if not isinstance(count, int) or count < 1:
        raise wrong("num_classes", "a positive integer")
    if not (
        isinstance(names, list)
        and len(names) == count
        and all(isinstance(name, str) for name in names)
    ):
        raise wrong("class_names", f"{count} class names")
    if not isinstance(ignore, int) or not 0 <= ignore < 256:
        raise wrong("ignore_label", "an integer in 0..255")
    colours = np.zeros([256, 3], np.uint8)
    try:
        palette = np.asarray(record["palette"], np.int64)
        ignore_colour = np.asarray(record["ignore_colour"], np.int64)
    except (TypeError, ValueError):
        raise wrong("palette", f"{count} [r, g, b] colours") from None
    if palette.shape != (count, 3) or palette.min() < 0 or palette.max() > 255:
        raise wrong("palette", f"{count} [r, g, b] colours of 0..255")
    if ignore_colour.shape != (3,) or not np.all(
        (0 <= ignore_colour) & (ignore_colour < 256)
    ):
        raise wrong("ignore_colour", "one [r, g, b] colour of 0..255")
    colours[:count] = palette
    colours[ignore] = ignore_colour
    return Labels(str(record["dataset"]), tuple(names), colours, ignore)
