"""Setting frozen BatchNorm statistics from a batch, so random weights stay finite.

A model built from scratch has moving means 0 and variances 1 in every frozen
BatchNorm (`FrozenBatchNormalization`), so nothing normalises: through ResNet-101's
residual sums the activations of random He-initialised weights reach about 4e8, the
first SGD update overflows and later steps compute on inf and NaN. Benchmarks (and
anyone timing a model without pretrained weights) first calibrate: one forward pass
in which every frozen BatchNorm, in the order the model calls them, takes the mean
and variance of its input on `images` as its moving statistics and normalises with
them, so each layer sees the already calibrated output of the layers before it.
Afterwards the activations are near unit scale, as a pretrained network's are.

The statistics must come from enough values. A 33x33 image leaves ResNet-101 2x2
maps in res4 and res5: four values per channel, which come from nearly the same
receptive field, so the variances they give are far below the spread the same
weights produce on any other input. Such a BatchNorm magnifies whatever differs in
its input, the rounding of the kernels included: calibrated on one 33x33 image,
`recipes/voc.yaml`'s network gave logits of at most 0.4 eagerly and 1.3e8 in a
`tf.function` (whose Grappler rewrites sum in another order), on CPUs with oneDNN
and without, and the first SGD step diverged to NaN without oneDNN. So
`calibrate_batch_norm` refuses a batch that shows any BatchNorm fewer than
`MIN_VALUES_PER_CHANNEL` values of a channel, and `calibration_images` makes a batch
large enough for a network of any output stride.
"""

from __future__ import annotations

import keras
import numpy as np

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.models.layers import FrozenBatchNormalization

# Fewest values of a channel a BatchNorm may be calibrated on: with 16 (4 images
# of 33x33, in res4) ResNet-101's loss reached NaN in three steps; with 36 and
# more it held (random weights, lr 1e-3).
MIN_VALUES_PER_CHANNEL = 64
# The side of calibration images: 257 leaves 8x8 maps even at output stride 32.
CALIBRATION_SIDE = 257


class CalibrationError(TfdeeplabError, ValueError):
    """A calibration batch too small to estimate some BatchNorm's statistics."""


def frozen_batch_norms(model: keras.Model) -> list[FrozenBatchNormalization]:
    """Every FrozenBatchNormalization in `model`, nested models included."""
    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop()
        if isinstance(layer, FrozenBatchNormalization):
            found.append(layer)
        pending.extend(getattr(layer, "layers", []))
    return found


def calibration_images(
    height: int, width: int, count: int = 2, seed: int = 0
) -> np.ndarray:
    """Random normalised images large enough to calibrate any DeepLab of ours.

    Args:
        height: int. The size the model will run at; the images are at least
            `CALIBRATION_SIDE` a side, larger when this is.
        width: int. Likewise.
        count: int. Images. Defaults to 2.
        seed: int. Defaults to 0.

    Returns:
        float32 [count, max(height, 257), max(width, 257), 3], standard normal.

    Example:
        >>> calibrate_batch_norm(model, calibration_images(33, 33))
    """
    shape = (count, max(height, CALIBRATION_SIDE), max(width, CALIBRATION_SIDE), 3)
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def calibrate_batch_norm(model: keras.Model, images) -> int:
    """Set every frozen BatchNorm's moving statistics from one pass over `images`.

    Args:
        model: keras.Model from `build_model`.
        images: [N, H, W, 3] normalised images, as the model's input, large
            enough that every BatchNorm sees `MIN_VALUES_PER_CHANNEL` values of
            each channel (`calibration_images` makes such a batch).

    Returns:
        int. How many BatchNorm layers were set.

    Raises:
        CalibrationError: some BatchNorm saw fewer values per channel (the model
            then holds statistics it must not be timed with).

    Example:
        >>> calibrate_batch_norm(model, calibration_images(321, 321))
        104
    """
    layers = frozen_batch_norms(model)
    for layer in layers:
        layer.calibrating = True
    try:
        model(images, training=False)  # eagerly: each layer in call order
    finally:
        for layer in layers:
            layer.calibrating = False
    fewest = min(layers, key=lambda layer: layer.calibration_values, default=None)
    if fewest is not None and fewest.calibration_values < MIN_VALUES_PER_CHANNEL:
        shape = tuple(np.shape(images))
        raise CalibrationError(
            f"calibrating on images of shape {shape}: {fewest.name} sees "
            f"{fewest.calibration_values} values of each channel, fewer than "
            f"{MIN_VALUES_PER_CHANNEL}; calibrate on more or larger images "
            "(calibration_images)"
        )
    return len(layers)
