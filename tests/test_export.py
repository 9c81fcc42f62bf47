"""`python -m tfdeeplab.export` and `predict --saved-model`: files, reuse, errors."""

import json

import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image

from tests.helpers import fingerprints, tiny_overrides
from tfdeeplab import predict as predict_cli
from tfdeeplab.config import load_recipe
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.export.__main__ import main as export_main

SMALL = ["eval.scales=[0.75, 1.0]", "eval.flip=true"]


def run_export(demo_shards, run, out, *more):
    arguments = [
        str(RECIPE),
        "--checkpoint",
        str(run),
        "--out",
        str(out),
        *more,
        "--set",
        *tiny_overrides(demo_shards),
        *SMALL,
    ]
    return export_main(arguments)


@pytest.fixture(scope="module")
def exported_run(demo_shards, trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "model"
    assert run_export(demo_shards, trained_run, out) == 0
    return out


def test_the_export_holds_the_model_and_what_its_outputs_mean(
    demo_shards, exported_run
):
    assert (exported_run / "saved_model.pb").is_file()
    labels = json.loads((exported_run / "assets" / "labels.json").read_text())
    assert labels["dataset"] == "voc" and labels["num_classes"] == 21
    assert labels["class_names"][15] == "person"
    assert labels["palette"][1] == [128, 0, 0] and labels["ignore_label"] == 255
    recipe = yaml.safe_load((exported_run / "assets" / "recipe.yaml").read_text())
    assert recipe["eval"]["scales"] == [0.75, 1.0] and recipe["eval"]["flip"] is True
    assert not list(exported_run.parent.glob(".model.*"))  # no staging left


def test_an_existing_export_is_kept_unless_forced(
    demo_shards, trained_run, tmp_path, capsys
):
    out = tmp_path / "model"
    assert run_export(demo_shards, trained_run, out) == 0
    size = (out / "saved_model.pb").stat().st_size
    (out / "saved_model.pb").write_bytes(b"an older export")
    assert run_export(demo_shards, trained_run, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; pass --force" in err[0]
    assert (out / "saved_model.pb").read_bytes() == b"an older export"
    assert run_export(demo_shards, trained_run, out, "--force") == 0
    assert (out / "saved_model.pb").stat().st_size == size  # exported anew


@pytest.mark.parametrize("target", ["run directory", "folder of files", "file"])
def test_force_never_replaces_anything_but_a_saved_model(
    demo_shards, trained_run, tmp_path, target, capsys
):
    """`--out RUN_DIR --force` once replaced the run being exported."""
    import shutil

    if target == "run directory":
        out = tmp_path / "run"
        shutil.copytree(trained_run, out)
    elif target == "folder of files":
        out = tmp_path / "mine"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    else:
        out = tmp_path / "model"
        out.write_text("a file")
    before = fingerprints(tmp_path)
    checkpoint = out if target == "run directory" else trained_run
    arguments = [
        str(RECIPE),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(out),
        "--force",
        "--set",
        *tiny_overrides(demo_shards),
    ]
    assert export_main(arguments) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {out} exists and is not a SavedModel; --force replaces only a "
        "SavedModel or an empty folder: choose another --out"
    ]
    assert fingerprints(tmp_path) == before


def test_an_interrupted_export_leaves_nothing(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", interrupted)
    assert run_export(demo_shards, trained_run, tmp_path / "model") == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: interrupted: nothing was written to {tmp_path / 'model'}; run the "
        "same command to export"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_killed_exports_staging_folder_is_removed_by_the_next(
    demo_shards, trained_run, tmp_path
):
    stale = tmp_path / ".model.partial-999999-abcd"  # pid 999999 is not running
    (stale / "variables").mkdir(parents=True)
    (stale / "saved_model.pb").write_bytes(b"half")
    assert run_export(demo_shards, trained_run, tmp_path / "model") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_predict_from_the_saved_model_equals_predict_from_the_checkpoint(
    demo_shards, trained_run, exported_run, tmp_path, capsys
):
    photo = tmp_path / "photo.png"
    rgb = np.random.default_rng(0).integers(0, 256, (37, 58, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(photo)
    from_checkpoint, from_export = tmp_path / "a", tmp_path / "b"
    assert (
        predict_cli.main(
            [
                str(photo),
                "--recipe",
                str(RECIPE),
                "--checkpoint",
                str(trained_run),
                "--out",
                str(from_checkpoint),
                "--set",
                *tiny_overrides(demo_shards),
                *SMALL,
            ]
        )
        == 0
    )
    assert (
        predict_cli.main(
            [str(photo), "--saved-model", str(exported_run), "--out", str(from_export)]
        )
        == 0
    )
    assert str(exported_run) in capsys.readouterr().out
    first, second = (
        Image.open(folder / "photo.png") for folder in (from_checkpoint, from_export)
    )
    np.testing.assert_array_equal(np.array(first), np.array(second))
    assert first.getpalette()[: 3 * 21] == second.getpalette()[: 3 * 21]
    assert (from_export / "photo_overlay.jpg").is_file()


def test_the_saved_models_recipe_loads_as_a_recipe(exported_run):
    recipe = load_recipe(exported_run / "assets" / "recipe.yaml")
    assert recipe.eval.scales == (0.75, 1.0)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--saved-model", "{model}", "--recipe", "r.yaml"], "takes no --recipe"),
        (["--checkpoint", "x"], "expected --recipe with --checkpoint"),
        (["--saved-model", "{empty}"], "not a SavedModel from python -m tfdeeplab"),
    ],
)
def test_predict_arguments_are_checked_in_one_line(
    exported_run, tmp_path, arguments, message, capsys
):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    (tmp_path / "empty").mkdir()
    arguments = [
        a.format(model=exported_run, empty=tmp_path / "empty") for a in arguments
    ]
    try:
        code = predict_cli.main([str(photo), *arguments, "--out", str(tmp_path / "o")])
    except SystemExit as exit:  # a usage error, from argparse
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith(("error: ", "python -m")), err
