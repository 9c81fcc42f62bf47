"""Per-image scores of an evaluation, and its worst images, in bounded memory.

Each image's confusion matrix (the one the split's matrix is summed from) is kept as
three counts per class: its true positives, its ground-truth pixels and its
predicted pixels (3 x C numbers an image, not C x C, and never the label map). An
image's mIoU is the mean IoU over the classes in its ground truth or its prediction
(a class only predicted scores 0); an image with no labelled pixel has no score and
is never among the worst. The K lowest-scoring images' input, ground truth and
prediction are kept as they go, shrunk to at most `max_side` pixels a side, so a
Cityscapes val pass holds 500 small count arrays and K thumbnails.
"""

from __future__ import annotations

import dataclasses
import heapq
import math

import numpy as np
from PIL import Image


def image_counts(matrix: np.ndarray) -> np.ndarray:
    """The three counts per class an image's scores need, from its matrix.

    Args:
        matrix: int [C, C]. The image's confusion matrix (rows truth).

    Returns:
        int64 [3, C]: true positives, ground-truth pixels, predicted pixels.

    Example:
        >>> image_counts(np.array([[3, 1], [0, 4]])).tolist()
        [[3, 4], [4, 4], [3, 5]]
    """
    matrix = np.asarray(matrix, np.int64)
    return np.stack([np.diag(matrix), matrix.sum(1), matrix.sum(0)])


def class_iou_of(counts: np.ndarray) -> np.ndarray:
    """Each class's IoU from `image_counts`, NaN where the class is in neither.

    Example:
        >>> class_iou_of(np.array([[3, 4], [4, 4], [3, 5]])).round(3).tolist()
        [0.75, 0.8]
    """
    true_positives, truth, predicted = np.asarray(counts, np.float64)
    union = truth + predicted - true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positives / union, np.nan)


def image_score(counts: np.ndarray) -> tuple[float, float]:
    """(mIoU, pixel accuracy) of one image; NaN for both with no labelled pixel.

    Example:
        >>> image_score(np.array([[3, 4], [4, 4], [3, 5]]))
        (0.775, 0.875)
    """
    labelled = int(counts[1].sum())
    if labelled == 0:
        return math.nan, math.nan
    return float(np.nanmean(class_iou_of(counts))), float(counts[0].sum() / labelled)


@dataclasses.dataclass(frozen=True)
class WorstImage:
    """One of the worst images: its id, score and thumbnails.

    Args:
        image_id: str.
        miou: float. Its mIoU over its own classes, 0..1.
        pixel_accuracy: float.
        rgb: uint8 [h, w, 3]. The input image, shrunk.
        label: int [h, w]. Its ground truth at the same size (nearest).
        prediction: int [h, w]. The prediction at the same size (nearest).
        size: (height, width). The image's own size.
    """

    image_id: str
    miou: float
    pixel_accuracy: float
    rgb: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    size: tuple[int, int]


class ImageScores:
    """Per-image counts and scores of one evaluation, and its K worst images.

    Args:
        num_classes: int.
        worst: int. How many of the lowest-scoring images to keep (0: none).
        max_side: int. Longest side of a kept image's thumbnails.

    Example:
        >>> scores = ImageScores(21, worst=8)
        >>> scores.add("2007_000033", image_matrix, rgb, label, prediction)
        >>> [image.image_id for image in scores.worst_images()]
    """

    def __init__(self, num_classes: int, worst: int = 8, max_side: int = 512):
        if worst < 0:
            raise ValueError(f"worst: expected 0 or more, got {worst}")
        self.num_classes = num_classes
        self.keep = worst
        self.max_side = max_side
        self.ids: list[str] = []
        self.counts: list[np.ndarray] = []  # [3, C] each
        self._heap: list = []  # (-miou, -order, WorstImage): the best kept on top

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        image_id: str,
        matrix: np.ndarray,
        rgb: np.ndarray,
        label: np.ndarray,
        prediction: np.ndarray,
    ) -> None:
        """Record one image from its confusion matrix; keep it if among the worst.

        Args:
            image_id: str.
            matrix: int [C, C]. The image's confusion matrix.
            rgb: uint8 [H, W, 3]. The input image.
            label: int [H, W]. Its ground truth.
            prediction: int [H, W]. The evaluated prediction.
        """
        counts = image_counts(matrix)
        order = len(self.ids)
        self.ids.append(image_id)
        self.counts.append(counts)
        miou, accuracy = image_score(counts)
        if self.keep == 0 or math.isnan(miou):
            return
        key = (-miou, -order)  # ties: the earlier image counts as worse
        if len(self._heap) == self.keep and key <= self._heap[0][:2]:
            return  # no worse than every kept image
        kept = _thumbnails(image_id, miou, accuracy, rgb, label, prediction, self)
        entry = (*key, kept)
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heapreplace(self._heap, entry)

    def worst_images(self) -> list[WorstImage]:
        """The kept images, worst first (ties in the split's order)."""
        return [entry[2] for entry in sorted(self._heap, reverse=True)]

    def scores(self) -> list[tuple[float, float]]:
        """(mIoU, pixel accuracy) of every image, in the split's order."""
        return [image_score(counts) for counts in self.counts]

    def class_images(self) -> np.ndarray:
        """int64 [C]: how many images hold each class in their ground truth."""
        if not self.counts:
            return np.zeros(self.num_classes, np.int64)
        return (np.stack([counts[1] for counts in self.counts]) > 0).sum(0)

    def records(self, class_names) -> list[dict]:
        """One JSON-ready dict per image: id, mIoU, pixel accuracy, labelled
        pixels and the IoU of each class it holds or was predicted to hold."""
        records = []
        for image_id, counts in zip(self.ids, self.counts, strict=True):
            miou, accuracy = image_score(counts)
            ious = class_iou_of(counts)
            records.append(
                {
                    "id": image_id,
                    "miou": None if math.isnan(miou) else miou,
                    "pixel_accuracy": None if math.isnan(accuracy) else accuracy,
                    "labelled_pixels": int(counts[1].sum()),
                    "class_iou": {
                        class_names[c]: float(ious[c])
                        for c in np.flatnonzero(~np.isnan(ious))
                    },
                }
            )
        return records


def _thumbnails(image_id, miou, accuracy, rgb, label, prediction, scores):
    """A WorstImage with the three maps shrunk to `scores.max_side`."""
    rgb, label, prediction = (np.asarray(a) for a in (rgb, label, prediction))
    height, width = label.shape[:2]
    scale = min(1.0, scores.max_side / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size != (height, width):
        rows = _nearest(height, size[0])
        columns = _nearest(width, size[1])
        label = label[rows][:, columns]
        prediction = prediction[rows][:, columns]
        rgb = np.asarray(
            Image.fromarray(rgb).resize(size[::-1], Image.Resampling.BILINEAR)
        )
    return WorstImage(
        image_id=image_id,
        miou=miou,
        pixel_accuracy=accuracy,
        rgb=rgb.copy(),
        label=label.copy(),
        prediction=prediction.copy(),
        size=(height, width),
    )


def _nearest(length: int, out: int) -> np.ndarray:
    """Source index of each of `out` positions sampling `length` (pixel centres)."""
    positions = (np.arange(out) + 0.5) * (length / out)
    return np.minimum(positions.astype(np.int64), length - 1)
