"""One table of dataset facts (deeplab2's `DatasetDescriptor` is the model).

Everything the library and the converters need to know about a dataset: its classes
and their names, the colours it draws them in, the ignore label, its splits with their
sizes on the real data, and the converter command that writes its shards. A recipe's
`data.dataset` names one entry; an unknown name is an error, never a silent default.

Pure Python and NumPy: the recipe schema reads the table's names before TensorFlow
loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from tfdeeplab.data.palettes import cityscapes_palette, voc_palette


class UnknownDatasetError(ValueError):
    """A dataset name that is not in `DATASETS`; the message lists the known ones."""


@dataclasses.dataclass(frozen=True)
class DatasetDescriptor:
    """What one dataset is.

    Args:
        name: str. The name recipes use (`data.dataset`).
        num_classes: int. Class ids are 0..num_classes-1.
        class_names: tuple of str. Name of each class id.
        ignore_label: int. Label of pixels that do not count (void, padding).
        splits: mapping from split name to its number of images on the real data.
        train_split: str. The split the seed trains on.
        eval_split: str. The split results are reported on.
        converter_command: str. The command writing the shards; `{root}` stands for
            the output directory.
        palette_function: function returning the uint8 [256, 3] colour map.

    Example:
        >>> voc = dataset_descriptor("voc")
        >>> voc.num_classes, voc.class_names[15], voc.splits["train_aug"]
        (21, 'person', 10582)
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    ignore_label: int
    splits: Mapping[str, int]
    train_split: str
    eval_split: str
    converter_command: str
    palette_function: Callable[[], np.ndarray]

    def palette(self) -> np.ndarray:
        """The dataset's colour map, uint8 [256, 3] indexed by class id."""
        return self.palette_function()

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


VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
    "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
    "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


def _cityscapes_classes() -> tuple[str, ...]:
    """The 19 train-id class names, from cityscapesscripts' official label table."""
    from cityscapesscripts.helpers.labels import labels

    names = {label.trainId: label.name for label in labels if 0 <= label.trainId < 255}
    return tuple(names[train_id] for train_id in range(len(names)))


DATASETS = {
    "voc": DatasetDescriptor(
        name="voc",
        num_classes=21,
        class_names=VOC_CLASSES,
        ignore_label=255,
        # SPEC §5: train_aug = (SBD train + SBD val + VOC train) - VOC val.
        splits={"train_aug": 10582, "train": 1464, "val": 1449, "trainval": 2913},
        train_split="train_aug",
        eval_split="val",
        converter_command="python -m tfrecords_tools.voc --voc-root VOCdevkit/VOC2012 "
        "--sbd-root benchmark_RELEASE/dataset --out {root}",
        palette_function=voc_palette,
    ),
    "cityscapes": DatasetDescriptor(
        name="cityscapes",
        num_classes=19,
        class_names=_cityscapes_classes(),
        ignore_label=255,
        splits={"train": 2975, "val": 500, "test": 1525, "train_extra": 19998},
        train_split="train",
        eval_split="val",
        converter_command="python -m tfrecords_tools.cityscapes --root cityscapes "
        "--out {root}",
        palette_function=cityscapes_palette,
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
