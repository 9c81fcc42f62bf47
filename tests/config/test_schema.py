"""The recipe schema: its defaults, its tables, its documentation, its own checks."""

import dataclasses
import re

import pytest

from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.catalog.resnet_layout import OUTPUT_STRIDES, RESNET_UNITS, STAGE_NAMES
from tfdeeplab.config import schema
from tfdeeplab.config.schema import (
    DataConfig,
    ModelConfig,
    Recipe,
    ScheduleConfig,
    SchemaError,
    TrainConfig,
    with_dataset_facts,
)
from tfdeeplab.config.typed import from_dict

CONFIGS = [
    Recipe,
    ModelConfig,
    DataConfig,
    schema.ScheduleConfig,
    TrainConfig,
    schema.CrfConfig,
    schema.EvalConfig,
]


def documented_arguments(cls) -> list[str]:
    args = cls.__doc__.split("Args:", 1)[1]
    return re.findall(r"^        (\w+): ", args, flags=re.MULTILINE)


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda cls: cls.__name__)
def test_every_field_is_documented_in_order(cls):
    assert documented_arguments(cls) == [f.name for f in dataclasses.fields(cls)]


def test_choices_come_from_the_layout_and_dataset_tables():
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    assert fields["depth"].metadata["choices"] == tuple(RESNET_UNITS)
    assert fields["output_stride"].metadata["choices"] == OUTPUT_STRIDES
    assert fields["frozen_stages"].metadata["choices"] == STAGE_NAMES
    # Datasets are the table's or their shards' (checked when a recipe loads).
    data_fields = {f.name: f for f in dataclasses.fields(DataConfig)}
    assert "choices" not in data_fields["dataset"].metadata


def test_defaults_are_the_seeds_settings():
    """SPEC §2-§4, read off the spec rather than the code; VOC's own facts (classes,
    ignore label, splits, image count) come from the dataset."""
    recipe = with_dataset_facts(Recipe(), DATASETS["voc"])
    model, data, train = recipe.model, recipe.data, recipe.train
    assert (model.depth, model.output_stride, model.stem_pool_padding) == (101, 16, 0)
    assert (model.head, model.fc6_channels) == ("dcn_deeplab", 1024)
    assert model.num_classes == 21
    assert model.frozen_stages == ("conv1", "res2") and model.batch_norm == "frozen"
    assert model.batch_norm_epsilon == 1e-5 and model.head_init_stddev == 0.01
    assert (model.head_kernel_lr_multiplier, model.head_bias_lr_multiplier) == (1, 2)
    assert (data.dataset, data.train_split, data.num_train_images) == (
        "voc",
        "train_aug",
        10582,
    )
    assert data.crop_size == (321, 321) and data.scale_range == (0.7, 1.5)
    assert (data.aspect_ratio_tolerance, data.max_resize_attempts) == (0.15, 50)
    assert data.mean == (104.0, 116.0, 122.0) and data.channel_order == "bgr"
    assert (data.pad_value, data.ignore_label, data.flip_probability) == (255, 255, 0.5)
    assert (train.batch_size, train.epoch_scale, train.last_epoch) == (10, 4, 8.0)
    assert train.schedule.piecewise_steps == ((5.0, 1e-3), (8.0, 1e-4))
    assert (train.momentum, train.weight_decay, train.gradient_reduction) == (
        0.9,
        5e-4,
        "sum",
    )
    assert recipe.eval.scales == (0.9, 1.0, 1.1)
    assert recipe.eval.tile_stride_fraction == pytest.approx(2 / 3)
    crf = recipe.eval.crf
    assert (crf.iterations, crf.gaussian_weight, crf.gaussian_xy) == (10, 3.0, 1.0)
    assert (crf.bilateral_weight, crf.bilateral_xy, crf.bilateral_rgb) == (4, 67, 3)


def test_checks_that_relate_fields_name_the_field():
    cases = [
        (ModelConfig, {"msc_scales": [0.5, 1.0]}, "msc_scales"),
        (ModelConfig, {"msc_scales": [1.0, 1.0]}, "msc_scales"),
        (ModelConfig, {"batch_norm_momentum": 1.0}, "batch_norm_momentum"),
        (
            ModelConfig,
            {"depth": 50, "deformable_units": ["res4b22"]},
            "deformable_units",
        ),
        (ModelConfig, {"head": "aspp_v2", "atrous_rates": []}, "atrous_rates"),
        (DataConfig, {"flip_probability": 1.5}, "flip_probability"),
        (ScheduleConfig, {"steps": [[5, 0.0]]}, "steps"),
        (TrainConfig, {"end_epoch": 9.0}, "end_epoch"),
    ]
    for cls, values, key in cases:
        with pytest.raises(SchemaError) as raised:
            from_dict(cls, values)
        assert raised.value.key == key, values


def test_a_resnet50_unit_name_is_accepted_only_for_resnet50():
    assert from_dict(ModelConfig, {"depth": 50, "deformable_units": ["res4f"]})
    with pytest.raises(SchemaError, match="ResNet-101"):
        from_dict(ModelConfig, {"deformable_units": ["res4f"]})


def test_schedule_families_and_the_last_epoch():
    tf_style = TrainConfig(schedule=ScheduleConfig(family="tf_style"))
    assert tf_style.schedule.piecewise_steps == schema.SCHEDULE_FAMILIES["tf_style"]
    assert tf_style.last_epoch == 7.0
    assert TrainConfig(end_epoch=6.0).last_epoch == 6.0
    poly = TrainConfig(schedule=ScheduleConfig(type="poly"), end_epoch=3.0)
    assert poly.last_epoch == 3.0


def test_sequence_defaults_must_be_tuples():
    with pytest.raises(TypeError, match="use tuples"):
        schema._field([1, 2])


def test_a_datasets_facts_fill_what_a_recipe_leaves_out():
    cityscapes = with_dataset_facts(
        from_dict(Recipe, {"data": {"dataset": "cityscapes"}}), DATASETS["cityscapes"]
    )
    assert cityscapes.model.num_classes == 19  # not VOC's 21, though VOC is default
    assert (cityscapes.data.train_split, cityscapes.data.eval_split) == ("train", "val")
    assert (cityscapes.data.num_train_images, cityscapes.data.ignore_label) == (
        2975,
        255,
    )
    stated = from_dict(
        Recipe, {"data": {"train_split": "trainval", "num_train_images": 400}}
    )
    voc = with_dataset_facts(stated, DATASETS["voc"])
    assert (voc.data.train_split, voc.data.num_train_images) == ("trainval", 400)


@pytest.mark.parametrize(
    "data, key, message",
    [
        (
            {"model": {"num_classes": 21}, "data": {"dataset": "cityscapes"}},
            "model.num_classes",
            "expected 19, the cityscapes dataset's, got 21",
        ),
        (
            {"data": {"ignore_label": 0}},
            "data.ignore_label",
            "expected 255, the voc dataset's, got 0",
        ),
        (
            {"data": {"eval_split": "tset"}},
            "data.eval_split",
            "expected a split of the voc dataset (train_aug, train, val, trainval), "
            "got 'tset'",
        ),
    ],
)
def test_a_fact_that_disagrees_with_the_dataset_is_refused(data, key, message):
    recipe = from_dict(Recipe, data)
    with pytest.raises(SchemaError) as raised:
        with_dataset_facts(recipe, DATASETS[recipe.data.dataset])
    assert raised.value.key == key and raised.value.message.startswith(message)
