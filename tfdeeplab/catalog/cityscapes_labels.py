"""Cityscapes' label table, read once from `cityscapesscripts` (the official one).

Everything the project knows about Cityscapes' labels comes from here: the 19
train-id class names and colours, the labelId -> train id table the converter
applies, and the train id -> labelId table of the benchmark's submission format.
"""

from __future__ import annotations

import functools

import numpy as np

IGNORE_TRAIN_ID = 255
NUM_TRAIN_IDS = 19


@functools.cache
def _train_labels() -> tuple:
    """The official labels that have a train id (0-18), in train-id order."""
    from cityscapesscripts.helpers.labels import labels

    by_train_id = {
        label.trainId: label for label in labels if 0 <= label.trainId < IGNORE_TRAIN_ID
    }
    return tuple(by_train_id[train_id] for train_id in range(len(by_train_id)))


def train_id_names() -> tuple[str, ...]:
    """The 19 class names, by train id.

    Example:
        >>> train_id_names()[:3]
        ('road', 'sidewalk', 'building')
    """
    return tuple(label.name for label in _train_labels())


def train_id_colours() -> tuple[tuple[int, int, int], ...]:
    """The official colour of each train id, by train id.

    Example:
        >>> train_id_colours()[0]
        (128, 64, 128)
    """
    return tuple(tuple(label.color) for label in _train_labels())


def label_ids_of_train_ids() -> tuple[int, ...]:
    """The labelId each train id is submitted as (`*_labelIds.png`), by train id.

    Example:
        >>> label_ids_of_train_ids()[:3]
        (7, 8, 11)
    """
    return tuple(label.id for label in _train_labels())


def train_ids_of_label_ids() -> np.ndarray:
    """A 256-entry table labelId -> train id.

    Ids the official table ignores (trainId 255 or -1) map to 255; byte values
    that are no Cityscapes label id map to -1 so they can be reported.

    Example:
        >>> train_ids_of_label_ids()[7]  # road
        0
    """
    from cityscapesscripts.helpers.labels import labels

    table = np.full(256, -1, dtype=np.int16)
    for label in labels:
        if 0 <= label.id < 256:
            ignored = not 0 <= label.trainId < IGNORE_TRAIN_ID
            table[label.id] = IGNORE_TRAIN_ID if ignored else label.trainId
    return table
