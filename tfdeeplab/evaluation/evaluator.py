"""Evaluating a model on a split: SPEC §4's protocol, one confusion matrix.

Every image goes through `predict_probabilities` (one traced function for all
sizes; one image per replica under a strategy with several), optionally through the
dense CRF (in worker processes), and its argmax into one C x C confusion
matrix over the whole split (rows truth, columns prediction, the ignore label
dropped), from which mIoU, pixel accuracy, mean accuracy and each class's IoU are
read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.evaluation.confusion import ConfusionMatrix
from tfdeeplab.evaluation.crf import require_crf
from tfdeeplab.evaluation.crf_pool import CrfPool
from tfdeeplab.evaluation.inference import InferenceSettings
from tfdeeplab.evaluation.replicas import ReplicatedInference
from tfdeeplab.progress_display import progress_bar


class EmptySplitError(TfdeeplabError, ValueError):
    """A split with no images to evaluate."""


@dataclasses.dataclass
class EvaluationResult:
    """What an evaluation measured.

    Args:
        matrix: int64 [C, C]. Confusion matrix, rows truth, columns prediction.
        metrics: dict from `segmentation_metrics`.
        images: int. Images evaluated.
        seconds: float. Wall time.
        seconds_after_first: float. Wall time after the first image, which also
            traces and optimises the inference graph: the steady per-image cost is
            `seconds_after_first / (images - 1)`.
    """

    matrix: np.ndarray
    metrics: dict
    images: int
    seconds: float
    seconds_after_first: float = float("nan")


def evaluate_split(
    model: keras.Model,
    dataset: tf.data.Dataset,
    settings: InferenceSettings,
    num_classes: int,
    *,
    crf: dict | None = None,
    crf_workers: int = 0,
    strategy: tf.distribute.Strategy | None = None,
    on_prediction: Callable[[dict, np.ndarray], None] | None = None,
    on_scored: Callable[[dict, np.ndarray, np.ndarray], None] | None = None,
    progress: bool = True,
    total: int | None = None,
) -> EvaluationResult:
    """Predict every image of `dataset` and score the split as a whole.

    Under a strategy with several replicas the images are spread over them (one
    image per replica at a time) and every replica's pixels go into the one
    confusion matrix. With `crf`, the CRF runs in `crf_workers` processes while
    the network works on the next images.

    Args:
        model: keras.Model from `build_model`, weights loaded (built under
            `strategy.scope()` when a strategy is given).
        dataset: `eval_dataset(recipe, split)`: dicts with `image`, `rgb`, `label`,
            `id`.
        settings: InferenceSettings. Scales, window, flip, tile batch.
        num_classes: int.
        crf: dict or None. `dense_crf` keyword arguments to refine each image's
            probabilities; None for no CRF.
        crf_workers: int. CRF processes; 0 for one per CPU core. Defaults to 0.
        strategy: tf.distribute.Strategy or None (the default strategy).
        on_prediction: function (example as numpy, labels [H, W]) called for each
            image in the dataset's order, e.g. to save it.
        on_scored: function (example as numpy, labels, the image's own confusion
            matrix, the one added to the split's) for each image, in order.
        progress: bool. Show a progress bar with images/s. Defaults to True.
        total: int or None. Images in the split, for the bar's ETA.

    Returns:
        EvaluationResult.

    Raises:
        EmptySplitError: the split holds no image.
        CrfUnavailableError: `crf` given without the pydensecrf2 package.
        CrfWorkerError: a CRF process died.

    Example:
        >>> result = evaluate_split(model, eval_dataset(recipe), settings, 21)
        >>> result.metrics["miou"]
    """
    if crf is not None:
        require_crf()
    infer = ReplicatedInference(
        model,
        settings,
        output="labels" if crf is None else "probabilities",
        strategy=strategy,
    )
    matrix = ConfusionMatrix(num_classes)
    start, count, first_done = time.perf_counter(), 0, None
    bar = progress_bar(total=total, desc="evaluate", unit="img", disable=not progress)
    with contextlib.ExitStack() as stack:
        predictions = _predictions(dataset, infer)
        if crf is not None:
            pool = stack.enter_context(CrfPool(crf, crf_workers))
            predictions = _refined(pool, predictions)
        for example, labels in predictions:
            _score(matrix, example, labels, on_prediction, on_scored)
            count += 1
            first_done = first_done or time.perf_counter()
            bar.update(1)
    bar.close()
    if not count:
        raise EmptySplitError("the split holds no images")
    end = time.perf_counter()
    return EvaluationResult(
        matrix.counts, matrix.metrics(), count, end - start, end - first_done
    )


def _score(matrix: ConfusionMatrix, example, labels, on_prediction, on_scored):
    """Add one image to the split's matrix and hand it to the callbacks."""
    image_matrix = matrix.update(example["label"], labels)
    if on_prediction is None and on_scored is None:
        return
    as_numpy = {key: value.numpy() for key, value in example.items()}
    labels = np.asarray(labels)
    if on_prediction is not None:
        on_prediction(as_numpy, labels)
    if on_scored is not None:
        on_scored(as_numpy, labels, image_matrix)


def _refined(pool: CrfPool, predictions):
    """(example, CRF label map) in order, the CRF in the pool's processes."""
    items = (
        (example, output.numpy(), example["rgb"].numpy())
        for example, output in predictions
    )
    return pool.ordered(items, name=_image_id)


def _image_id(example: dict) -> str:
    """An example's image id, for messages."""
    value = example.get("id")
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _predictions(
    dataset: tf.data.Dataset, infer: ReplicatedInference
) -> Iterator[tuple[dict, tf.Tensor]]:
    """(example, output) for every image, `infer.replicas` images per call."""
    group = []
    for example in dataset:
        group.append(example)
        if len(group) == infer.replicas:
            yield from zip(group, infer([e["image"] for e in group]), strict=True)
            group = []
    if group:
        yield from zip(group, infer([e["image"] for e in group]), strict=True)
