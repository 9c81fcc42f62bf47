"""Evaluating a model on a split: SPEC §4's protocol, one confusion matrix.

Every image goes through `predict_probabilities` (one traced function for all
sizes), optionally through the dense CRF, and its argmax into one C x C confusion
matrix over the whole split (rows truth, columns prediction, the ignore label
dropped), from which mIoU, pixel accuracy, mean accuracy and each class's IoU are
read.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfdeeplab.evaluation.confusion import ConfusionMatrix
from tfdeeplab.evaluation.crf import dense_crf, require_crf
from tfdeeplab.evaluation.inference import InferenceSettings, predict_probabilities


class EmptySplitError(ValueError):
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
    on_prediction: Callable[[dict, np.ndarray], None] | None = None,
    progress: bool = True,
    total: int | None = None,
) -> EvaluationResult:
    """Predict every image of `dataset` and score the split as a whole.

    Args:
        model: keras.Model from `build_model`, weights loaded.
        dataset: `eval_dataset(recipe, split)`: dicts with `image`, `rgb`, `label`,
            `id`.
        settings: InferenceSettings. Scales, window, flip, tile batch.
        num_classes: int.
        crf: dict or None. `dense_crf` keyword arguments to refine each image's
            probabilities; None for no CRF.
        on_prediction: function (example as numpy, labels [H, W]) called for each
            image, e.g. to save it.
        progress: bool. Show a progress bar with images/s. Defaults to True.
        total: int or None. Images in the split, for the bar's ETA.

    Returns:
        EvaluationResult.

    Raises:
        EmptySplitError: the split holds no image.
        CrfUnavailableError: `crf` given without the pydensecrf2 package.

    Example:
        >>> result = evaluate_split(model, eval_dataset(recipe), settings, 21)
        >>> result.metrics["miou"]
    """
    if crf is not None:
        require_crf()
    signature = [tf.TensorSpec([None, None, 3], tf.float32)]
    probabilities_of = tf.function(
        lambda image: predict_probabilities(model, image, settings),
        input_signature=signature,
    )
    # Without a CRF only the label map leaves the graph, not [H, W, C] floats.
    labels_of = tf.function(
        lambda image: tf.argmax(probabilities_of(image), -1, output_type=tf.int32),
        input_signature=signature,
    )
    matrix = ConfusionMatrix(num_classes)
    start, count, first_done = time.perf_counter(), 0, None
    bar = tqdm(total=total, unit="img", disable=not progress, dynamic_ncols=True)
    for example in dataset:
        if crf is None:
            labels = labels_of(example["image"]).numpy()
        else:
            probabilities = probabilities_of(example["image"]).numpy()
            refined = dense_crf(probabilities, example["rgb"].numpy(), **crf)
            labels = refined.argmax(-1).astype(np.int32)
        matrix.update(example["label"], labels)
        if on_prediction is not None:
            on_prediction({key: value.numpy() for key, value in example.items()},
                          labels)  # fmt: skip
        count += 1
        if first_done is None:
            first_done = time.perf_counter()
        bar.update(1)
    bar.close()
    if not count:
        raise EmptySplitError("the split holds no images")
    end = time.perf_counter()
    return EvaluationResult(
        matrix.counts, matrix.metrics(), count, end - start, end - first_done
    )
