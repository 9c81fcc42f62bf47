"""Whole-image validation during training: mIoU and image panels for TensorBoard.

A quick check, not the SPEC §4 protocol (the evaluator does sliding windows,
multiple scales and flips): every image goes through the model once at its own
size, by the evaluator's own `predict_probabilities` with default settings, and the
argmax is compared with the label.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfdeeplab.catalog.palettes import colorize
from tfdeeplab.evaluation.confusion import ConfusionMatrix
from tfdeeplab.evaluation.inference import InferenceSettings, predict_probabilities


@dataclasses.dataclass
class ValidationResult:
    """What one validation pass measured.

    Args:
        metrics: dict from `segmentation_metrics` (miou, accuracies, class_iou).
        images: int. Images evaluated.
        panels: list of uint8 [H, 3W, 3]: input, ground truth, prediction.
    """

    metrics: dict
    images: int
    panels: list


def _predict_function(model: keras.Model):
    # The evaluator's one inference function, reduced to a whole-image, one-scale
    # pass (no tiles): the quick check, through the same code.
    settings = InferenceSettings()

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def predict(image):
        probabilities = predict_probabilities(model, image, settings)
        return tf.argmax(probabilities, axis=-1, output_type=tf.int32)

    return predict


def validate(
    model: keras.Model,
    dataset: tf.data.Dataset,
    num_classes: int,
    palette: np.ndarray,
    *,
    max_images: int = 0,
    panels: int = 0,
) -> ValidationResult:
    """Predict whole images and score them.

    Args:
        model: keras.Model from `build_model` (logits or the MSC dict).
        dataset: `eval_dataset(recipe)`: dicts with `image`, `rgb`, `label`.
        num_classes: int.
        palette: uint8 [256, 3] to draw labels with.
        max_images: int. Images to use; 0 for all.
        panels: int. How many of the first images become panels.

    Returns:
        ValidationResult.

    Example:
        >>> result = validate(model, eval_dataset(recipe), 21, voc_palette(),
        ...                   max_images=100, panels=4)
        >>> result.metrics["miou"]
    """
    predict = _predict_function(model)
    matrix = ConfusionMatrix(num_classes)
    drawn, count = [], 0
    examples = dataset.take(max_images) if max_images else dataset
    for example in examples:
        prediction = predict(example["image"])
        matrix.update(example["label"], prediction)
        if len(drawn) < panels:
            truth = colorize(example["label"].numpy(), palette)
            guess = colorize(prediction.numpy(), palette)
            drawn.append(np.concatenate([example["rgb"].numpy(), truth, guess], 1))
        count += 1
    return ValidationResult(matrix.metrics(), count, drawn)


def pad_panels(panels: list) -> np.ndarray:
    """Panels of different sizes as one uint8 batch [N, H, W, 3] (zero padded)."""
    height = max(panel.shape[0] for panel in panels)
    width = max(panel.shape[1] for panel in panels)
    batch = np.zeros([len(panels), height, width, 3], np.uint8)
    for panel, slot in zip(panels, batch, strict=True):
        slot[: panel.shape[0], : panel.shape[1]] = panel
    return batch


__all__ = ["ValidationResult", "pad_panels", "validate"]
