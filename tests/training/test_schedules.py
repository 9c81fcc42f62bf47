"""Schedules at and around every boundary of the seed's configs (SPEC §3)."""

from pathlib import Path

import keras
import numpy as np
import pytest

from tfdeeplab.config import load_recipe
from tfdeeplab.training import (
    PiecewiseEpochSchedule,
    PolySchedule,
    build_schedule,
    iterations_per_epoch,
    total_steps,
)

RECIPES = Path(__file__).parents[2] / "recipes"

# recipe, replicas in the run, iterations per epoch, total iterations (SPEC §3 table)
SEED_RUNS = [
    ("voc", 1, 4232, 33_856),
    ("voc_scale16", 4, 4224, 33_792),
    ("voc_dcn", 1, 4232, 33_856),
    ("cityscapes_scale4_longer", 1, 11_900, 119_000),
    ("cityscapes_dcn", 1, 11_900, 119_000),
]


@pytest.mark.parametrize("name, replicas, per_epoch, total", SEED_RUNS)
def test_seed_schedules_at_every_boundary(name, replicas, per_epoch, total):
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    train = recipe.train
    global_batch = train.batch_size * replicas
    num_images = recipe.data.num_train_images
    assert (
        iterations_per_epoch(num_images, global_batch, train.epoch_scale) == per_epoch
    )
    assert total_steps(train, num_images, global_batch) == total
    schedule = build_schedule(train, num_images, global_batch)
    steps = train.schedule.piecewise_steps
    assert float(schedule(0)) == pytest.approx(steps[0][1])
    for (epoch, rate), (_, next_rate) in zip(steps, steps[1:], strict=False):
        boundary = int(epoch * per_epoch)
        assert float(schedule(boundary - 1)) == pytest.approx(rate)
        assert float(schedule(boundary)) == pytest.approx(next_rate)
        assert float(schedule(boundary + 1)) == pytest.approx(next_rate)
    assert float(schedule(total - 1)) == pytest.approx(steps[-1][1])


def test_voc_first_drop_is_at_epoch_5():
    schedule = PiecewiseEpochSchedule([(5, 1e-3), (8, 1e-4)], 4232)
    assert float(schedule(21_159)) == pytest.approx(1e-3)
    assert float(schedule(21_160)) == pytest.approx(1e-4)


def test_schedule_families_by_name():
    recipe = load_recipe(RECIPES / "voc_tf_schedule.yaml")
    schedule = build_schedule(recipe.train, 10582, 10)
    rates = [
        float(schedule(step))
        for step in (0, 3 * 4232 - 1, 3 * 4232, 5 * 4232, 7 * 4232 - 1)
    ]
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 1e-5, 8e-6, 8e-6])
    assert total_steps(recipe.train, 10582, 10) == 7 * 4232
    mxnet = load_recipe(RECIPES / "voc_mxnet_schedule.yaml")
    schedule = build_schedule(mxnet.train, 10582, 10)
    rates = [float(schedule(step)) for step in (4 * 4232 - 1, 4 * 4232)]
    np.testing.assert_allclose(rates, [1e-3, 1e-4])
    assert total_steps(mxnet.train, 10582, 10) == 6 * 4232


def test_poly_schedule():
    recipe = load_recipe(RECIPES / "voc_aspp_msc.yaml")
    schedule = build_schedule(recipe.train, 10582, 10)
    assert isinstance(schedule, PolySchedule) and schedule.total_steps == 20_000
    assert float(schedule(0)) == pytest.approx(2.5e-4)
    assert float(schedule(10_000)) == pytest.approx(2.5e-4 * 0.5**0.9, rel=1e-5)
    assert float(schedule(20_000)) == 0.0 and float(schedule(25_000)) == 0.0


def test_schedules_serialize():
    for schedule in (
        PiecewiseEpochSchedule([(1, 0.1), (2.5, 0.01)], 7),
        PolySchedule(0.1, 100, 0.9),
    ):
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(schedule)
        )
        assert [float(restored(s)) for s in (0, 7, 17, 18, 50)] == [
            float(schedule(s)) for s in (0, 7, 17, 18, 50)
        ]
