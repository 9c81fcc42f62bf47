"""recipes/custom.yaml on a converted folder, end to end: train, evaluate and export
a tiny model, with the dataset's own class count, names and colours throughout."""

import json

import pytest

from tests.helpers import custom_recipe


@pytest.fixture(scope="module")
def custom_run(folder_shards, tmp_path_factory):
    from tfdeeplab.experiment import train

    recipe = custom_recipe(folder_shards)
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


def test_init_from_a_run_of_another_class_count_leaves_out_the_classifier(
    folder_shards, trained_run, tmp_path
):
    """The demo's 21-class VOC run initialises a 5-class model: all but the
    tensors of the class count, which the report names in one line."""
    import numpy as np

    from tfdeeplab.experiment import train
    from tfdeeplab.experiment.init_source import init_source
    from tfdeeplab.models import build_model
    from tfdeeplab.weights.loader import load_initial_weights

    recipe = custom_recipe(folder_shards, "train.max_steps=1")
    model = build_model(recipe.model)
    report = load_initial_weights(model, init_source(str(trained_run)))
    assert report["left_out"] and all(
        name.startswith(("score", "upsampl")) for name in report["left_out"]
    ), report["left_out"]
    source = init_source(str(trained_run))()
    restored = {v.path: v.numpy() for v in source.weights}
    for variable in model.weights:
        if variable.path not in report["left_out"]:
            np.testing.assert_array_equal(variable.numpy(), restored[variable.path])

    lines = []
    train(recipe, tmp_path / "run", init_weights=str(trained_run), progress=False,
          log=lines.append)  # fmt: skip
    (line,) = [line for line in lines if line.startswith("initial weights from")]
    assert "another class count, so these start from their initialiser: " in line
    assert "score/kernel" in line.replace(" ", "")


def test_init_from_a_missing_run_is_one_line(folder_shards, tmp_path):
    from tfdeeplab.experiment import train
    from tfdeeplab.weights.loader import InitialWeightsError

    empty = tmp_path / "not_a_run"
    empty.mkdir()
    with pytest.raises(InitialWeightsError, match="no checkpoint in this directory"):
        train(custom_recipe(folder_shards), tmp_path / "run", init_weights=str(empty),
              progress=False)  # fmt: skip
