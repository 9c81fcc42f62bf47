"""Per-weight learning-rate and weight-decay multipliers (SPEC §3).

The one place that decides, for every trainable weight of a model, how fast it learns
and whether it decays. Layers that need other than the defaults say so themselves
through a `weight_multipliers()` method (today only `MultiplierConv2D`: the heads and
the deformable units' offset convolutions); everything else, the deformable
convolutions' own kernels included, follows the default rule: kernels and BatchNorm
gammas learn at x1 and decay, biases and betas learn at x1 and do not decay. Frozen
weights are not trainable and so have no entry: the trainer never touches them.
"""

from __future__ import annotations

import dataclasses

import keras

_DECAYED_WEIGHTS = ("kernel", "gamma")


@dataclasses.dataclass(frozen=True)
class Multipliers:
    """How one weight is optimised.

    Args:
        learning_rate: float. Multiplies the schedule's learning rate. Defaults to 1.
        weight_decay: float. Multiplies the recipe's weight decay. Defaults to 1.
    """

    learning_rate: float = 1.0
    weight_decay: float = 1.0


def _default_multipliers(variable) -> Multipliers:
    short_name = variable.path.rsplit("/", 1)[-1]
    return Multipliers(1.0, 1.0 if short_name in _DECAYED_WEIGHTS else 0.0)


def _leaf_layers(layer: keras.layers.Layer):
    sublayers = getattr(layer, "layers", None)
    if sublayers is None:
        yield layer
        return
    for sublayer in sublayers:
        yield from _leaf_layers(sublayer)


def weight_multipliers(model: keras.Model) -> dict[str, Multipliers]:
    """Multipliers of every trainable weight of `model`, keyed by `variable.path`.

    Args:
        model: keras.Model. Any model built by `tfdeeplab.models.build_model`;
            nested models are walked.

    Returns:
        dict from variable path (e.g. `score/bias`) to its `Multipliers`; exactly the
        model's trainable variables appear.

    Example:
        >>> multipliers = weight_multipliers(model)
        >>> multipliers["score/bias"]
        Multipliers(learning_rate=2.0, weight_decay=0.0)
    """
    result = {}
    for layer in _leaf_layers(model):
        own = layer.weight_multipliers() if hasattr(layer, "weight_multipliers") else {}
        for variable in layer.trainable_weights:
            result[variable.path] = own.get(variable.path) or _default_multipliers(
                variable
            )
    return result
