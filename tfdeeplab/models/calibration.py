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
"""

from __future__ import annotations

import keras

from tfdeeplab.models.layers import FrozenBatchNormalization


def frozen_batch_norms(model: keras.Model) -> list[FrozenBatchNormalization]:
    """Every FrozenBatchNormalization in `model`, nested models included."""
    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop()
        if isinstance(layer, FrozenBatchNormalization):
            found.append(layer)
        pending.extend(getattr(layer, "layers", []))
    return found


def calibrate_batch_norm(model: keras.Model, images) -> int:
    """Set every frozen BatchNorm's moving statistics from one pass over `images`.

    Args:
        model: keras.Model from `build_model`.
        images: [N, H, W, 3] normalised images, as the model's input.

    Returns:
        int. How many BatchNorm layers were set.

    Example:
        >>> calibrate_batch_norm(model, images)
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
    return len(layers)
