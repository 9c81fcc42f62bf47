"""The one place where a recipe's `eval` section becomes inference and CRF settings."""

from __future__ import annotations

import dataclasses

from tfdeeplab.config.schema import Recipe
from tfdeeplab.evaluation.inference import InferenceSettings


def inference_settings(recipe: Recipe) -> InferenceSettings:
    """SPEC §4's protocol as a recipe states it: scales, the crop as the window,
    stride fraction, flip and tile batch.

    Example:
        >>> inference_settings(load_recipe("voc")).scales
        (0.9, 1.0, 1.1)
    """
    evaluation = recipe.eval
    return InferenceSettings(
        scales=tuple(evaluation.scales),
        window=tuple(recipe.data.crop_size),
        stride_fraction=evaluation.tile_stride_fraction,
        flip=evaluation.flip,
        tile_batch=evaluation.tile_batch,
    )


def crf_arguments(recipe: Recipe) -> dict:
    """`dense_crf`'s keyword arguments from the recipe's `eval.crf` (not `enabled`
    or `workers`).

    Example:
        >>> crf_arguments(load_recipe("voc_aspp_msc"))["bilateral_xy"]
        67.0
    """
    settings = dataclasses.asdict(recipe.eval.crf)
    settings.pop("enabled")
    settings.pop("workers")
    return settings
