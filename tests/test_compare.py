"""`python -m tfdeeplab.compare`: schedules at real length, and trained side by side."""

import json

import pytest

from tests.helpers import tiny_overrides
from tfdeeplab import compare
from tfdeeplab.config import load_recipe
from tfdeeplab.experiment.compare_job import differences
from tfdeeplab.experiment.demo_job import RECIPE as DEMO_RECIPE
from tfdeeplab.training.builder import build_schedule

TF, MXNET = "voc_tf_schedule", "voc_mxnet_schedule"


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path
    return data


def test_schedules_at_real_length_equal_the_schedule_code(tmp_path, capsys):
    assert compare.main([TF, MXNET, "--out", str(tmp_path)]) == 0
    _png(tmp_path / "learning_rate.png")
    tables = json.loads((tmp_path / "schedules.json").read_text())
    # Worked out by hand from SPEC §3: floor(10582 / 10) * 4 = 4232 per epoch;
    # the TF family changes at epochs 3, 5 and ends at 7, MXNet's at 4 and ends at 6.
    rows = {
        t["name"]: [(s["stop_iteration"], s["learning_rate"]) for s in t["segments"]]
        for t in tables
    }
    assert rows == {
        "voc_tf_schedule": [(12696, 1e-4), (21160, 1e-5), (29624, 8e-6)],
        "voc_mxnet_schedule": [(16928, 1e-3), (25392, 1e-4)],
    }
    for path, table in zip((TF, MXNET), tables, strict=True):
        recipe = load_recipe(path)
        schedule = build_schedule(recipe.train, 10582, 10)
        assert table["total_steps"] == table["segments"][-1]["stop_iteration"]
        for segment in table["segments"]:
            for step in (segment["start_iteration"], segment["stop_iteration"] - 1):
                assert float(schedule(step)) == pytest.approx(
                    segment["learning_rate"], rel=1e-6
                )
    out = capsys.readouterr().out
    assert "| voc_tf_schedule | 10 | 4232 | 3 - 5 | 12696 - 21160 | 1e-05 |" in out
    assert "learning_rate.png" in (tmp_path / "schedules.md").read_text()


def test_fractional_epochs_replicas_and_poly(tmp_path):
    overrides = [
        "--set",
        "train.schedule.steps=[[2.5, 0.1], [4, 0.01]]",
        "train.end_epoch=3",
        "data.num_train_images=101",
        "train.batch_size=5",
        "train.epoch_scale=1",
    ]
    arguments = [TF, "voc", "cityscapes_aspp"]
    assert (
        compare.main(
            arguments + ["--out", str(tmp_path), "--replicas", "2"] + overrides
        )
        == 0
    )
    tf_table, voc, poly = json.loads((tmp_path / "schedules.json").read_text())
    assert tf_table["family"] == "tf_style"  # a family overrides `steps`
    # floor(101 / 10) = 10 per epoch: the rate falls at ceil(2.5 * 10) = 25 and
    # the end epoch 3 cuts the run at 30.
    assert voc["iterations_per_epoch"] == 10 and voc["total_steps"] == 30
    assert [
        (s["start_iteration"], s["stop_iteration"], s["learning_rate"])
        for s in voc["segments"]
    ] == [(0, 25, 0.1), (25, 30, 0.01)]
    schedule = build_schedule(load_recipe("voc", overrides[1:]).train, 101, 10)
    assert float(schedule(24)) == pytest.approx(0.1)
    assert float(schedule(25)) == pytest.approx(0.01)
    assert poly["kind"] == "poly" and poly["segments"] == []
    _png(tmp_path / "learning_rate.png")


def test_bad_arguments_are_one_line(tmp_path, capsys):
    assert compare.main([TF, TF, "--out", str(tmp_path)]) == 2
    assert "recipe names repeat" in capsys.readouterr().err
    assert compare.main([TF, "--out", str(tmp_path), "--base", TF]) == 2
    assert "--base needs --train" in capsys.readouterr().err
    assert compare.main([TF, "--out", str(tmp_path), "--set", "train.nope=1"]) == 2
    assert "train.nope" in capsys.readouterr().err
    assert not (tmp_path / "schedules.json").exists()


def test_train_runs_each_schedule_on_the_same_data(demo_shards, tmp_path, capsys):
    out = tmp_path / "compare"
    overrides = [
        o for o in tiny_overrides(demo_shards) if not o.startswith("train.max_steps")
    ]
    # 8 images / batch 2 = 4 steps an epoch at epoch_scale 1; the families then
    # train 7 epochs (28 steps) and 6 epochs (24 steps).
    arguments = [
        TF,
        MXNET,
        "--out",
        str(out),
        "--train",
        "--base",
        str(DEMO_RECIPE),
        "--points",
        "2",
        "--set",
        *overrides,
        "train.epoch_scale=1",
        "data.num_train_images=8",
        "eval.scales=[1.0]",
    ]
    assert compare.main(arguments) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"voc_tf_schedule", "voc_mxnet_schedule"}
    steps = {"voc_tf_schedule": 28, "voc_mxnet_schedule": 24}
    for name, result in summary.items():
        run = out / "runs" / name
        assert result["checkpoint"].endswith(f"ckpt-{steps[name]}")
        assert any((run / "tensorboard").glob("events.out.tfevents.*"))
        assert result["seed"] == 0 and 0 <= result["final_miou"] <= 1
        curves = result["curves"]
        assert [s for s, _ in curves["miou"]] == [steps[name] // 2, steps[name]]
        assert curves["loss"][-1][0] == steps[name]
        rates = dict(curves["learning_rate"])
        family = {"voc_tf_schedule": (1e-4, 8e-6), "voc_mxnet_schedule": (1e-3, 1e-4)}
        assert rates[1] == pytest.approx(family[name][0])
        assert rates[steps[name]] == pytest.approx(family[name][1])
        trained = load_recipe(result["trained_recipe"])
        assert trained.model.units_per_stage == (1, 1, 1, 1)  # the demo's model
    _png(out / "curves.png")
    _png(out / "learning_rate.png")
    table = (out / "summary.md").read_text()
    assert "| voc_tf_schedule | (3, 0.0001), (5, 1e-05), (7, 8e-06) | 28 |" in table
    assert f"tensorboard --logdir {out / 'runs'}" in capsys.readouterr().out

    assert compare.main(arguments) == 0  # again: both runs and evaluations reused
    again = capsys.readouterr().out
    assert again.count("evaluated: reused (done for ckpt-") == 2
    assert (
        json.loads((out / "summary.json").read_text())["voc_tf_schedule"]["final_miou"]
        == summary["voc_tf_schedule"]["final_miou"]
    )


def test_runs_that_differ_beyond_the_schedule_are_noted():
    recipes = [
        load_recipe(TF),
        load_recipe(MXNET),
        load_recipe("voc_dcn"),
        load_recipe(TF, ["train.seed=3"]),
    ]
    notes = differences(recipes, ["tf", "mxnet", "dcn", "seeded"])
    assert notes == [
        "note: dcn differs from tf in model, not only in its schedule "
        "(a base recipe trains one model with each schedule)",
        "note: seeded differs from tf in train.seed, not only in its schedule "
        "(a base recipe trains one model with each schedule)",
    ]


def test_unwritable_output_and_missing_data_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compare.main([TF, "--out", str(blocker / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {blocker / 'out'}") and error.count("\n") == 1
    out = tmp_path / "compare"
    arguments = [
        TF,
        "--out",
        str(out),
        "--train",
        "--set",
        f"data.root={tmp_path / 'nothing'}",
    ]
    assert compare.main(arguments) == 2  # train's own one-line error
    error = capsys.readouterr().err
    assert "error:" in error and "Traceback" not in error
    assert not (out / "runs" / "voc_tf_schedule").exists()
