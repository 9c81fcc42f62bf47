"""Initial weights: now `tfdeeplab.weights.loader`; these names stay importable."""

from tfdeeplab.weights.loader import (
    InitialWeightsError,
    load_initial_weights,
    load_weights,
    require_weights_file,
)

__all__ = [
    "InitialWeightsError",
    "load_initial_weights",
    "load_weights",
    "require_weights_file",
]
