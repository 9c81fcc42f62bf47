"""`python -m tfdeeplab.evaluate`: figures, JSON, predictions, TensorBoard, errors."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import eval_images, run_evaluate, tiny_overrides
from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab.catalog.palettes import voc_palette
from tfdeeplab.config import load_recipe
from tfdeeplab.evaluation.confusion import segmentation_metrics
from tfdeeplab.experiment.demo_job import RECIPE

# Random weights whose predictions hit some classes (measured; seeds 2 and 3 miss).
SEED = 0


def test_a_run_directory_is_evaluated_into_table_json_predictions_and_tensorboard(
    demo_shards, trained_run, tmp_path, capsys
):
    report, predictions = tmp_path / "eval.json", tmp_path / "predictions"
    arguments = [
        "--checkpoint",
        str(trained_run),
        "--json",
        str(report),
        "--save-predictions",
        str(predictions),
    ]
    assert run_evaluate(demo_shards, *arguments) == 0
    out = capsys.readouterr().out
    assert "ckpt-6" in out and "mIoU" in out and "aeroplane" in out
    record = json.loads(report.read_text())
    assert record["images"] == 4 and record["checkpoint"].endswith("ckpt-6")
    assert set(record) >= {
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "class_iou",
        "confusion_matrix",
        "recipe",
        "settings",
    }
    matrix = np.array(record["confusion_matrix"])
    assert record["miou"] == pytest.approx(segmentation_metrics(matrix)["miou"])
    assert report.with_suffix(".confusion.png").is_file()

    # The saved predictions are the ones scored: rebuild the matrix from them.
    recipe = load_recipe(RECIPE, tiny_overrides(demo_shards))
    rebuilt = np.zeros_like(matrix)
    for example in eval_images(recipe):
        png = Image.open(predictions / f"{example['id'].numpy().decode()}.png")
        assert (
            png.mode == "P"
            and png.getpalette()[:48] == voc_palette()[:16].ravel().tolist()
        )
        labels, truth = np.array(png), example["label"].numpy()
        valid = truth != 255
        np.add.at(rebuilt, (truth[valid], labels[valid]), 1)
    np.testing.assert_array_equal(rebuilt, matrix)

    tags = set()
    for path in (trained_run / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {(value.tag, event.step) for value in event.summary.value}
    assert ("eval/miou", 6) in tags


def test_weights_files_are_evaluated_too(demo_shards, trained_run, tmp_path, capsys):
    from tfdeeplab.evaluation.weights import load_weights
    from tfdeeplab.models import build_model

    recipe = load_recipe(RECIPE, tiny_overrides(demo_shards))
    model = build_model(recipe.model)
    load_weights(model, checkpoint=trained_run)
    weights = tmp_path / "demo.weights.h5"
    model.save_weights(str(weights))
    by_checkpoint, by_weights = tmp_path / "a.json", tmp_path / "b.json"
    assert (
        run_evaluate(
            demo_shards, "--checkpoint", str(trained_run), "--json", str(by_checkpoint)
        )
        == 0
    )
    assert (
        run_evaluate(demo_shards, "--weights", str(weights), "--json", str(by_weights))
        == 0
    )
    first, second = (json.loads(p.read_text()) for p in (by_checkpoint, by_weights))
    assert first["confusion_matrix"] == second["confusion_matrix"]


def test_a_run_whose_tensorboard_cannot_be_written_is_still_evaluated(
    demo_shards, trained_run, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.rmtree(run / "tensorboard")
    (run / "tensorboard").write_text("a file where the events would go")
    out = tmp_path / "eval.json"
    assert run_evaluate(demo_shards, "--checkpoint", str(run), "--json", str(out)) == 0
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip()]
    warnings = [line for line in captured.out.splitlines() if "warning" in line]
    assert not err and len(warnings) == 1, (err, warnings)
    assert warnings[0].startswith(f"warning: {run / 'tensorboard'}: the evaluation's")
    assert json.loads(out.read_text())["miou"] >= 0  # the evaluation stands
    assert "mIoU" in captured.out


def test_a_keras_file_of_another_model_is_one_line(demo_shards, tmp_path, capsys):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other.save_weights(tmp_path / "other.weights.h5")
    weights = str(tmp_path / "other.weights.h5")
    assert run_evaluate(demo_shards, "--weights", weights) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable Keras weights file" in err[0], err


@pytest.mark.parametrize(
    "arguments, more, message",
    [
        (["--checkpoint", "{run}/checkpoints/ckpt-99"], [], "not a checkpoint"),
        (["--checkpoint", "{run}"], ["model.fc6_channels=32"], "fc6/kernel"),
        (["--weights", "{run}/missing.weights.h5"], [], "weights file not found"),
        (["--checkpoint", "{run}"], ["data.root={run}/nowhere"], "no shards at"),
        (["--checkpoint", "{run}", "--split", "trian"], [], "no split 'trian'"),
    ],
)
def test_bad_input_is_one_line(
    demo_shards, trained_run, arguments, more, message, capsys
):
    arguments = [a.format(run=trained_run) for a in arguments]
    more = [m.format(run=trained_run) for m in more]
    assert run_evaluate(demo_shards, *arguments, more=more) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.slow
def test_cityscapes_predictions_score_the_same_in_the_official_evaluation(
    tmp_path, capsys
):
    """Our mIoU equals cityscapesscripts' own evaluation of the files we write."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    from tfdeeplab.models import build_model
    from tfdeeplab.synthetic_datasets import write_cityscapes_tree
    from tfrecords_tools import cityscapes

    root = write_cityscapes_tree(tmp_path / "cityscapes", {"val": 3}, size=(64, 128))
    shards = tmp_path / "shards"
    assert (
        cityscapes.main(
            [
                "--root",
                str(root),
                "--out",
                str(shards),
                "--splits",
                "val",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    recipe_path = RECIPE.parent / "cityscapes_scale4_longer.yaml"
    overrides = [
        f"data.root={shards}",
        "model.depth=50",
        "model.units_per_stage=[1, 1, 1, 1]",
        "model.fc6_channels=16",
        "data.crop_size=[65, 65]",
        "eval.scales=[1.0]",
    ]
    keras.utils.set_random_seed(SEED)
    model = build_model(load_recipe(recipe_path, overrides).model)
    weights = tmp_path / "random.weights.h5"  # any weights: the scores must agree
    model.save_weights(str(weights))
    report, predictions = tmp_path / "eval.json", tmp_path / "predictions"
    assert (
        evaluate_cli.main(
            [
                str(recipe_path),
                "--weights",
                str(weights),
                "--json",
                str(report),
                "--save-predictions",
                str(predictions),
                "--no-progress",
                "--set",
                *overrides,
            ]
        )
        == 0
    )
    ours = json.loads(report.read_text())

    truths = sorted((root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    names = [t.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png") for t in truths]
    official.args.evalInstLevelScore = False
    official.args.JSONOutput = False
    official.args.quiet = True
    result = official.evaluateImgLists(
        [str(predictions / name) for name in names],
        [str(t) for t in truths],
        official.args,
    )
    assert 0 < ours["miou"] < 1 and len(np.unique(ours["confusion_matrix"])) > 3
    assert result["averageScoreClasses"] == pytest.approx(ours["miou"], abs=1e-9)


def test_the_crf_runs_in_worker_processes_from_the_recipe(
    demo_shards, trained_run, tmp_path, capsys
):
    report = tmp_path / "crf.json"
    crf = ["eval.crf.enabled=true", "eval.crf.workers=2", "eval.crf.iterations=2"]
    assert (
        run_evaluate(
            demo_shards,
            "--checkpoint",
            str(trained_run),
            "--json",
            str(report),
            more=crf,
        )
        == 0
    )
    assert "CRF on" in capsys.readouterr().out
    record = json.loads(report.read_text())
    assert record["images"] == 4
    assert record["settings"]["crf"]["iterations"] == 2
    assert "workers" not in record["settings"]["crf"]  # not a CRF parameter
