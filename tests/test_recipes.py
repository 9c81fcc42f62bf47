"""Every recipe in recipes/ loads, states SPEC §3's settings, and builds its model."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import shards_overrides
from tfdeeplab.config import load_recipe
from tfdeeplab.models import build_model

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_the_issue_recipes_exist():
    names = {path.stem for path in RECIPES}
    assert {
        "voc",
        "voc_scale16",
        "voc_dcn",
        "voc_aspp_msc",
        "cityscapes_scale4_longer",
        "cityscapes_dcn",
        "voc_tf_schedule",
        "voc_mxnet_schedule",
        "cityscapes_aspp",
        "demo",
        "custom",
    } <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_recipe_builds_its_model(path, folder_shards):
    recipe = load_recipe(path, shards_overrides(path, folder_shards))
    assert recipe.name == path.stem
    assert recipe.description
    model = build_model(recipe.model)
    logits = model(np.zeros((1, 65, 81, 3), "float32"))
    assert logits.shape == (1, 65, 81, recipe.model.num_classes)


# SPEC §3's table: crop, batch/GPU x GPUs, scale, epochs, schedule, iterations.
SEED_TABLE = {
    "voc": (321, 10, 1, 4, 8, ((5, 1e-3), (8, 1e-4)), 33_856),
    "voc_scale16": (321, 10, 4, 16, 8, ((5, 1e-3), (8, 1e-4)), 33_792),
    "voc_dcn": (321, 10, 1, 4, 8, ((5, 1e-3), (8, 1e-4)), 33_856),
    "cityscapes_scale4_longer": (1024, 1, 1, 4, 10, ((6, 1e-3), (10, 1e-4)), 119_000),
    "cityscapes_dcn": (1024, 1, 1, 4, 10, ((6, 1e-3), (10, 1e-4)), 119_000),
}


@pytest.mark.parametrize("name", sorted(SEED_TABLE))
def test_seed_recipes_state_spec_settings(name):
    crop, batch, replicas, scale, epochs, steps, iterations = SEED_TABLE[name]
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / f"{name}.yaml")
    train = recipe.train
    assert recipe.data.crop_size == (crop, crop)
    assert (train.batch_size, train.replicas, train.epoch_scale) == (
        batch,
        replicas,
        scale,
    )
    assert train.last_epoch == epochs
    assert train.schedule.type == "piecewise"
    assert train.schedule.piecewise_steps == steps
    per_epoch = math.floor(recipe.data.num_train_images / (batch * replicas)) * scale
    assert per_epoch * epochs == iterations
    assert (train.momentum, train.weight_decay, train.gradient_reduction) == (
        0.9,
        5e-4,
        "sum",
    )
    model = recipe.model
    assert model.frozen_stages == ("conv1", "res2") and model.batch_norm == "frozen"
    assert (model.head, model.output_stride, model.stem_pool_padding) == (
        "dcn_deeplab",
        16,
        0,
    )
    assert (model.head_kernel_lr_multiplier, model.head_bias_lr_multiplier) == (
        1.0,
        2.0,
    )
    assert recipe.model.deformable_units == (
        ("res5a", "res5b", "res5c") if "dcn" in name else ()
    )


def test_schedule_family_recipes_differ_only_in_schedule():
    base = load_recipe(Path(__file__).parents[1] / "recipes" / "voc.yaml")
    for name, family, last_epoch in (
        ("voc_tf_schedule", "tf_style", 7),
        ("voc_mxnet_schedule", "mxnet_style", 6),
    ):
        recipe = load_recipe(Path(__file__).parents[1] / "recipes" / f"{name}.yaml")
        assert recipe.train.schedule.family == family
        assert dataclasses.replace(
            recipe, name=base.name, description=base.description
        ) == dataclasses.replace(
            base,
            train=dataclasses.replace(base.train, schedule=recipe.train.schedule),
        )
        assert recipe.train.last_epoch == last_epoch


def test_deeplab_v2_recipe():
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "voc_aspp_msc.yaml")
    model = recipe.model
    assert (model.head, model.output_stride, model.stem_pool_padding) == (
        "aspp_v2",
        8,
        1,
    )
    assert model.atrous_rates == (6, 12, 18, 24) and model.msc_scales == (
        1.0,
        0.75,
        0.5,
    )
    assert (model.head_kernel_lr_multiplier, model.head_bias_lr_multiplier) == (
        10.0,
        20.0,
    )
    assert recipe.train.schedule.type == "poly" and recipe.train.max_steps == 20_000
    assert recipe.eval.crf.enabled


def test_cityscapes_deeplab_v2_recipe():
    path = Path(__file__).parents[1] / "recipes" / "cityscapes_aspp.yaml"
    recipe = load_recipe(path)
    model = recipe.model
    assert (model.num_classes, model.head, model.output_stride) == (19, "aspp_v2", 8)
    assert model.stem_pool_padding == 1 and model.head_kernel_lr_multiplier == 10.0
    assert recipe.data.dataset == "cityscapes" and recipe.data.crop_size == (1024, 1024)
    assert recipe.train.schedule.type == "poly" and recipe.eval.crf.enabled
