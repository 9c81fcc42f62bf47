"""recipes/custom.yaml on a converted folder, end to end: train, evaluate and export
a tiny model, with the dataset's own class count, names and colours throughout."""

import json

import pytest

from tests.helpers import tiny_overrides
from tfdeeplab.config import load_recipe

TINY_MODEL = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.fc6_channels=16",
    "model.batch_norm=train",
    "model.frozen_stages=[]",
    "data.num_train_images=9",
]


@pytest.fixture(scope="module")
def custom_run(folder_shards, tmp_path_factory):
    from tfdeeplab.experiment import train

    overrides = [*tiny_overrides(folder_shards, *TINY_MODEL), "train.max_steps=3"]
    overrides.remove("data.num_train_images=16")
    recipe = load_recipe("recipes/custom.yaml", overrides)
    workdir = tmp_path_factory.mktemp("custom") / "run"
    summary = train(recipe, workdir)
    return recipe, workdir, summary


def test_a_folder_dataset_trains_evaluates_and_exports_by_its_own_classes(
    custom_run, tmp_path
):
    from tfdeeplab.experiment import evaluate, export

    recipe, workdir, summary = custom_run
    assert recipe.model.num_classes == 5 and recipe.data.dataset == "mine"
    assert summary.end_step == 3
    report = evaluate(recipe, checkpoint=str(workdir))
    table = report.table()
    for name in ("background", "red", "green", "olive", "navy"):
        assert name in table
    export(recipe, tmp_path / "exported", checkpoint=str(workdir))
    labels = json.loads((tmp_path / "exported" / "assets" / "labels.json").read_text())
    assert labels["class_names"] == ["background", "red", "green", "olive", "navy"]
