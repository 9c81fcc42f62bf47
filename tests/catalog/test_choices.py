"""A recipe's choices are looked up in one table each; an unknown name is an error
wherever it arrives, through a recipe or the Python API."""

import dataclasses

import pytest

from tests.helpers import tiny_model
from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import UnknownChoiceError, implemented, lookup
from tfdeeplab.config import schema


def test_the_schemas_choices_are_the_tables_names():
    fields = {
        field.name: field.metadata.get("choices")
        for config in (
            schema.ModelConfig,
            schema.DataConfig,
            schema.TrainConfig,
            schema.ScheduleConfig,
        )
        for field in dataclasses.fields(config)
    }
    assert fields["batch_norm"] == choices.BATCH_NORMS
    assert fields["head"] == choices.HEADS == tuple(choices.HEAD_OPTIONS)
    assert fields["upsampling"] == choices.UPSAMPLINGS
    assert fields["channel_order"] == choices.CHANNEL_ORDERS
    assert fields["image_interpolation"] == choices.IMAGE_INTERPOLATIONS
    assert fields["type"] == choices.SCHEDULE_TYPES
    assert fields["gradient_reduction"] == choices.GRADIENT_REDUCTIONS
    assert fields["mixed_precision"] == choices.MIXED_PRECISIONS
    assert fields["distribution"] == choices.DISTRIBUTIONS


def test_the_implementations_cover_exactly_the_names():
    from tfdeeplab.data import augment
    from tfdeeplab.models import builder, heads, resnet
    from tfdeeplab.training import builder as training_builder
    from tfdeeplab.training import step, strategy

    tables = [
        (resnet.BATCH_NORM_LAYERS, choices.BATCH_NORMS),
        (heads.HEADS, choices.HEADS),
        (builder.UPSAMPLERS, choices.UPSAMPLINGS),
        (augment.CHANNEL_REVERSED, choices.CHANNEL_ORDERS),
        (augment.BILINEAR, choices.IMAGE_INTERPOLATIONS),
        (training_builder.SCHEDULES, choices.SCHEDULE_TYPES),
        (training_builder.LOSS_SCALED, choices.MIXED_PRECISIONS),
        (step.OBJECTIVE_SHARES, choices.GRADIENT_REDUCTIONS),
        (strategy.STRATEGIES, choices.DISTRIBUTIONS),
        (choices.STATISTICS_PER_REPLICA, choices.BATCH_NORMS),
    ]
    for table, names in tables:
        assert set(table) == set(names), names
    with pytest.raises(RuntimeError):
        implemented(("a", "b"), {"a": 1})


def test_a_misspelt_choice_through_the_python_api_is_an_error():
    """`batch_norm="frozn"` once trained BatchNorm silently (any name but frozen)."""
    from tfdeeplab.models import build_model

    config = dataclasses.replace(tiny_model(), batch_norm="frozn")
    with pytest.raises(UnknownChoiceError) as raised:
        build_model(config)
    assert str(raised.value) == (
        "batch_norm: expected one of 'frozen', 'train', 'sync', got 'frozn'"
    )
    with pytest.raises(UnknownChoiceError, match="model.upsampling: expected one"):
        build_model(dataclasses.replace(tiny_model(), upsampling="bicubic"))
    assert lookup({"sum": 1}, "sum", "train.gradient_reduction") == 1
