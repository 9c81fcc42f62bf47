"""One table of dataset facts (deeplab2's `DatasetDescriptor` is the model).

Everything the library and the converters need to know about a dataset: its classes
and their names, the colours it draws them in, the ignore label, its splits with their
sizes on the real data, the converter command that writes its shards and the file
format of its benchmark's submissions. A recipe's `data.dataset` names one entry (an
unknown name is an error, never a silent default), and the recipe's class count,
ignore label, splits and image count follow from it (`tfdeeplab.config`).

A descriptor is a plain value: `to_json` and `from_json` carry it through a file
(a converter's manifest, an export's `labels.json`) and back unchanged.

Pure Python and NumPy: the recipe schema reads the table before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from tfdeeplab.catalog import cityscapes_labels
from tfdeeplab.catalog.palettes import cityscapes_palette, voc_palette
from tfdeeplab.errors import TfdeeplabError


class UnknownDatasetError(TfdeeplabError, ValueError):
    """A dataset name that is not in `DATASETS`; the message lists the known ones."""


class DescriptorError(TfdeeplabError, ValueError):
    """A dataset description read from a file that is not one; names file and key."""


@dataclasses.dataclass(frozen=True)
class SubmissionFormat:
    """How a benchmark's evaluation wants predictions: one PNG per image.

    Args:
        file_name: str. The file of an image's prediction, `{id}` standing for the
            image id (`{id}.png`, Cityscapes' `{id}_leftImg8bit.png`).
        label_values: tuple of int. The pixel value written for each class id;
            empty for the class id itself.
        palette: bool. A palette PNG in the dataset's colours (VOC's format),
            else a one-channel PNG.
    """

    file_name: str = "{id}.png"
    label_values: tuple[int, ...] = ()
    palette: bool = False

    def values(self) -> np.ndarray:
        """The 256-entry table class id -> written value (identity by default)."""
        table = np.arange(256, dtype=np.uint8)
        table[: len(self.label_values)] = self.label_values
        return table


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor:
    """What one dataset is.

    Args:
        name: str. The name recipes use (`data.dataset`).
        class_names: tuple of str. Name of each class id 0..C-1.
        colours: 256 (r, g, b) triples. The colour map label maps are drawn in,
            indexed by label value (the ignore label's colour included).
        ignore_label: int. Label of pixels that do not count (void, padding).
        splits: mapping from split name to its number of images on the real data.
        train_split: str. The split a recipe trains on unless it says otherwise.
        eval_split: str. The split results are reported on.
        converter_command: str. The command writing the shards; `{root}` stands for
            the output directory.
        submission: SubmissionFormat. How the benchmark wants predictions.

    Example:
        >>> voc = dataset_descriptor("voc")
        >>> voc.num_classes, voc.class_names[15], voc.splits["train_aug"]
        (21, 'person', 10582)
    """

    name: str
    class_names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...]
    ignore_label: int
    splits: Mapping[str, int]
    train_split: str
    eval_split: str
    converter_command: str
    submission: SubmissionFormat = SubmissionFormat()

    @property
    def num_classes(self) -> int:
        """Class ids are 0..num_classes-1."""
        return len(self.class_names)

    def palette(self) -> np.ndarray:
        """The dataset's colour map, uint8 [256, 3] indexed by label value."""
        return np.asarray(self.colours, np.uint8).reshape(256, 3)

    def class_name(self, class_id: int) -> str:
        """The name of `class_id`, or `class_<id>` past the dataset's classes."""
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return f"class_{class_id}"

    def converter(self, root) -> str:
        """The command that writes this dataset's shards into `root`."""
        return self.converter_command.format(root=root)

    def verifier(self, root) -> str:
        """The command that re-reads the shards in `root` against their manifest."""
        module = self.converter_command.split()[2]  # python -m <module> ...
        return f"python -m {module} --out {root} --verify"

    def to_json(self) -> dict:
        """The descriptor as JSON-ready values (`from_json` reads them back).

        Example:
            >>> dataset_descriptor("voc").to_json()["class_names"][0]
            'background'
        """
        record = dataclasses.asdict(self)
        record["class_names"] = list(self.class_names)
        record["colours"] = [list(colour) for colour in self.colours]
        record["splits"] = dict(self.splits)
        record["submission"]["label_values"] = list(self.submission.label_values)
        return record

    @classmethod
    def from_json(cls, record: object, source: str) -> DatasetDescriptor:
        """The descriptor `to_json` wrote, checked.

        Args:
            record: the JSON value.
            source: str. Where it was read (a file), for the error.

        Raises:
            DescriptorError: one line naming `source` and the key that is wrong.

        Example:
            >>> DatasetDescriptor.from_json(voc.to_json(), "manifest.json") == voc
            True
        """
        return _descriptor_from_json(record, source)


def _descriptor_from_json(record: object, source: str) -> DatasetDescriptor:
    def fail(key: str, expected: str) -> DescriptorError:
        return DescriptorError(f"{source}: {key}: expected {expected}")

    if not isinstance(record, dict):
        raise fail("dataset", "a JSON object describing the dataset")
    fields = {field.name for field in dataclasses.fields(DatasetDescriptor)}
    missing = sorted(fields - set(record) - {"submission"})
    if missing:
        raise fail(missing[0], "a value (the key is missing)")
    names, colours = record["class_names"], record["colours"]
    if not (
        isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    ):
        raise fail("class_names", "a list of class names")
    if not names:
        raise fail("class_names", "at least one class")
    if not (
        isinstance(colours, list)
        and len(colours) == 256
        and all(isinstance(c, list) and len(c) == 3 for c in colours)
        and all(isinstance(v, int) and 0 <= v < 256 for c in colours for v in c)
    ):
        raise fail("colours", "256 [r, g, b] triples of 0..255")
    ignore = record["ignore_label"]
    if not (isinstance(ignore, int) and 0 <= ignore < 256):
        raise fail("ignore_label", "an integer in 0..255")
    splits = record["splits"]
    if not (
        isinstance(splits, dict) and all(isinstance(n, int) for n in splits.values())
    ):
        raise fail("splits", "an object of split names and image counts")
    for key in ("name", "train_split", "eval_split", "converter_command"):
        if not isinstance(record[key], str):
            raise fail(key, "a string")
    submission = record.get("submission", {})
    try:
        submission = SubmissionFormat(
            file_name=str(submission.get("file_name", "{id}.png")),
            label_values=tuple(int(v) for v in submission.get("label_values", ())),
            palette=bool(submission.get("palette", False)),
        )
    except (AttributeError, TypeError, ValueError):
        raise fail("submission", "file_name, label_values and palette") from None
    return DatasetDescriptor(
        name=record["name"],
        class_names=tuple(names),
        colours=tuple(tuple(colour) for colour in colours),
        ignore_label=ignore,
        splits=dict(splits),
        train_split=record["train_split"],
        eval_split=record["eval_split"],
        converter_command=record["converter_command"],
        submission=submission,
    )


def _colours(palette: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    return tuple(tuple(int(v) for v in colour) for colour in palette)


VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

DATASETS = {
    "voc": DatasetDescriptor(
        name="voc",
        class_names=VOC_CLASSES,
        colours=_colours(voc_palette()),
        ignore_label=255,
        # SPEC §5: train_aug = (SBD train + SBD val + VOC train) - VOC val.
        splits={"train_aug": 10582, "train": 1464, "val": 1449, "trainval": 2913},
        train_split="train_aug",
        eval_split="val",
        converter_command="python -m tfrecords_tools.voc --voc-root VOCdevkit/VOC2012 "
        "--sbd-root benchmark_RELEASE/dataset --out {root}",
        # The VOC benchmark's format: palette PNGs whose indices are the classes.
        submission=SubmissionFormat(file_name="{id}.png", palette=True),
    ),
    "cityscapes": DatasetDescriptor(
        name="cityscapes",
        class_names=cityscapes_labels.train_id_names(),
        colours=_colours(cityscapes_palette()),
        ignore_label=cityscapes_labels.IGNORE_TRAIN_ID,
        splits={"train": 2975, "val": 500, "test": 1525, "train_extra": 19998},
        train_split="train",
        eval_split="val",
        converter_command="python -m tfrecords_tools.cityscapes --root cityscapes "
        "--out {root}",
        # cityscapesscripts' evaluation reads labelIds, named after the image.
        submission=SubmissionFormat(
            file_name="{id}_leftImg8bit.png",
            label_values=cityscapes_labels.label_ids_of_train_ids(),
        ),
    ),
}


def dataset_descriptor(name: str) -> DatasetDescriptor:
    """The descriptor of dataset `name`.

    Args:
        name: str. A key of `DATASETS` (`voc`, `cityscapes`).

    Returns:
        DatasetDescriptor.

    Raises:
        UnknownDatasetError: one line listing the known datasets.

    Example:
        >>> dataset_descriptor("cityscapes").class_names[0]
        'road'
    """
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise UnknownDatasetError(
            f"unknown dataset {name!r} (known datasets: {known})"
        ) from None
