"""Real images at an export's fixed size: int8 calibration and the agreement check.

A fixed-size file takes one tile, so the images given to it are tiles too: each
image is cut to the input size around its centre, and padded at the bottom and
right with the mean colour (its label with the ignore label) where it is smaller,
as the evaluation's sliding window pads (SPEC §4).

- `fit_to_size`: that cut; `export.builder.split_tiles` applies it to a split's
  first images (int8's calibration set: the training split's, real shards, no
  augmentation; the agreement check: the evaluation split's).
- `label_agreement(...)`: how a quantized file's labels compare with the float32
  network's on the evaluation split's first images: the share of labelled pixels
  with the same label, and each one's mIoU against the ground truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from tfdeeplab.evaluation.confusion import segmentation_metrics


def fit_to_size(array: np.ndarray, size: tuple[int, int], fill) -> np.ndarray:
    """`array` [H, W, ...] cut around its centre to `size`, padded with `fill` at
    the bottom and right where smaller.

    Example:
        >>> fit_to_size(np.ones((2, 6), np.uint8), (4, 4), 0).tolist()
        [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    height, width = array.shape[:2]
    top = max(0, (height - size[0]) // 2)
    left = max(0, (width - size[1]) // 2)
    cut = array[top : top + size[0], left : left + size[1]]
    out = np.empty((*size, *array.shape[2:]), array.dtype)
    out[...] = np.asarray(fill, array.dtype)
    out[: cut.shape[0], : cut.shape[1]] = cut
    return out


def mean_rgb(channel_order: str, mean) -> np.ndarray:
    """The recipe's mean as an RGB uint8 colour (the padding of a tile)."""
    colour = np.asarray(mean, np.float64)
    if channel_order == "bgr":
        colour = colour[::-1]
    return np.clip(np.round(colour), 0, 255).astype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """A quantized file against the float32 network on the same tiles.

    Args:
        images: int. Tiles compared.
        label_agreement: float. Share of labelled pixels with the same label.
        float_miou: float. The float32 network's mIoU over the tiles.
        quantized_miou: float. The quantized file's.
    """

    images: int
    label_agreement: float
    float_miou: float
    quantized_miou: float

    @property
    def miou_change(self) -> float:
        """quantized - float32 mIoU, in 0..1 units."""
        return self.quantized_miou - self.float_miou

    def format(self) -> str:
        return (
            f"against float32 on {self.images} evaluation images: labels agree on "
            f"{100 * self.label_agreement:.2f}% of the pixels; mIoU "
            f"{100 * self.float_miou:.2f}% -> {100 * self.quantized_miou:.2f}% "
            f"({100 * self.miou_change:+.2f})"
        )


def label_agreement(
    tiles: list,
    float_labels: Callable[[np.ndarray], np.ndarray],
    quantized_labels: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
) -> Agreement:
    """Compare two label functions on (image, ground truth) tiles.

    Args:
        tiles: (image, ground truth) pairs, from `export.builder.split_tiles`.
        float_labels, quantized_labels: functions uint8 [1, H, W, 3] -> [H, W].
        num_classes: int.
    """
    same = labelled = 0
    matrices = [np.zeros((num_classes, num_classes), np.int64) for _ in range(2)]
    for image, truth in tiles:
        valid = (truth >= 0) & (truth < num_classes)
        outputs = [
            np.asarray(f(image)).reshape(truth.shape)
            for f in (float_labels, quantized_labels)
        ]
        same += int(np.sum((outputs[0] == outputs[1]) & valid))
        labelled += int(valid.sum())
        for matrix, labels in zip(matrices, outputs, strict=True):
            np.add.at(matrix, (truth[valid], labels[valid]), 1)
    return Agreement(
        images=len(tiles),
        label_agreement=same / max(1, labelled),
        float_miou=segmentation_metrics(matrices[0])["miou"],
        quantized_miou=segmentation_metrics(matrices[1])["miou"],
    )
