"""The data builder: every augmentation key of a recipe reaches the pipeline."""

import dataclasses
from pathlib import Path

from tests.helpers import SEED_AUGMENTATION as SEED
from tfdeeplab.config import load_recipe
from tfdeeplab.data.augment import Augmentation
from tfdeeplab.data.builder import augmentation_from_recipe

RECIPE = Path(__file__).parents[2] / "recipes" / "voc.yaml"


def test_augmentation_takes_each_of_its_fields_from_the_recipe():
    changed = [
        "data.crop_size=[97, 65]",
        "data.scale_range=[0.5, 2.0]",
        "data.aspect_ratio_tolerance=0.3",
        "data.max_resize_attempts=7",
        "data.image_interpolation=nearest",
        "data.pad_value=0",
        "data.flip_probability=0.25",
        "data.channel_order=rgb",
        "data.mean=[1, 2, 3]",
    ]
    recipe = load_recipe(RECIPE, changed)
    augmentation = augmentation_from_recipe(recipe.data)
    fields = [field.name for field in dataclasses.fields(Augmentation)]
    assert sorted(fields) == sorted(
        key.split("=")[0][len("data.") :] for key in changed
    )
    for name in fields:
        assert getattr(augmentation, name) == getattr(recipe.data, name), name
    assert augmentation_from_recipe(load_recipe(RECIPE).data) == SEED
