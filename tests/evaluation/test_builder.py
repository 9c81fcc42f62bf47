"""The evaluation builder: SPEC §4's settings for each dataset's recipes."""

from pathlib import Path

from tfdeeplab.config import load_recipe
from tfdeeplab.evaluation.builder import crf_arguments, inference_settings
from tfdeeplab.evaluation.inference import InferenceSettings

RECIPES = Path(__file__).parents[2] / "recipes"


def test_voc_evaluates_three_scales_with_the_training_crop_as_window():
    settings = inference_settings(load_recipe(RECIPES / "voc.yaml"))
    assert settings == InferenceSettings(
        scales=(0.9, 1.0, 1.1),
        window=(321, 321),
        stride_fraction=2 / 3,
        flip=False,
        tile_batch=4,
    )


def test_cityscapes_evaluates_full_resolution_with_1024_tiles():
    recipe = load_recipe(
        RECIPES / "cityscapes_scale4_longer.yaml",
        ["eval.flip=true", "eval.tile_batch=2"],
    )
    settings = inference_settings(recipe)
    assert (settings.scales, settings.window) == ((1.0,), (1024, 1024))
    assert settings.flip and settings.tile_batch == 2


def test_crf_arguments_are_the_recipes_crf_settings_without_the_switch():
    recipe = load_recipe(RECIPES / "voc_aspp_msc.yaml", ["eval.crf.iterations=5"])
    assert crf_arguments(recipe) == {
        "iterations": 5,
        "gaussian_weight": 3.0,
        "gaussian_xy": 1.0,
        "bilateral_weight": 4.0,
        "bilateral_xy": 67.0,
        "bilateral_rgb": 3.0,
    }
