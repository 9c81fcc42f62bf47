"""The seed's SGD update: per-weight lr multipliers and selective decay (SPEC §3).

MXNet's SGD, which the seed ran, updates each weight as
    mom = momentum * mom - lr * lr_mult * (grad + wd * wd_mult * weight); weight += mom
Keras' SGD does mom = momentum * mom - lr * g; weight += mom, so feeding it
g = lr_mult * (grad + wd * wd_mult * weight) gives the same update. The multipliers
come from `tfdeeplab.models.weight_multipliers` (head biases x2 and no decay, kernels
and BN gammas decayed, frozen weights absent because they are not trainable). The SGD
itself is built by `tfdeeplab.training.builder.build_optimizer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from tfdeeplab.models.multipliers import Multipliers


def scale_gradients(
    gradients: Sequence,
    variables: Sequence,
    multipliers: Mapping[str, Multipliers],
    weight_decay: float,
    decay_scale=1.0,
) -> list:
    """lr_mult * (grad + weight_decay * wd_mult * weight) for every trainable weight.

    Args:
        gradients: sequence of gradient tensors (None for weights without one).
        variables: the matching trainable variables.
        multipliers: dict from `variable.path` to Multipliers.
        weight_decay: float. The recipe's L2 weight decay.
        decay_scale: float or scalar tensor. Multiplies the decay term: 1/replicas
            when the optimizer will sum the replicas' gradients (each adds its share
            of one decay), times the loss scale when gradients are loss-scaled.
            Defaults to 1.

    Returns:
        list of scaled gradients (None stays None).

    Raises:
        KeyError: for a trainable variable without multipliers (a model not built by
            `build_model`, or one changed after `weight_multipliers` was read).
    """
    scaled = []
    for gradient, variable in zip(gradients, variables, strict=True):
        if gradient is None:
            scaled.append(None)
            continue
        multiplier = multipliers[variable.path]
        if multiplier.weight_decay and weight_decay:
            decay = weight_decay * multiplier.weight_decay * decay_scale
            gradient = gradient + keras.ops.cast(
                decay, gradient.dtype
            ) * keras.ops.cast(variable, gradient.dtype)
        if multiplier.learning_rate != 1.0:
            gradient = gradient * multiplier.learning_rate
        scaled.append(gradient)
    return scaled
