"""`python -m tfdeeplab.evaluate --report DIR`: the report from the same pass as the
figures, checked against the saved predictions, TensorBoard, and a real browser."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import eval_images, run_evaluate, tiny_overrides
from tfdeeplab.config import load_recipe
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.version import version_line


def brute_force_miou(truth, labels):
    valid = truth != 255
    truth, labels = truth[valid], labels[valid]
    classes = set(truth.tolist()) | set(labels.tolist())
    return float(
        np.mean(
            [
                np.sum((truth == c) & (labels == c))
                / np.sum((truth == c) | (labels == c))
                for c in classes
            ]
        )
    )


@pytest.fixture(scope="module")
def evaluated(demo_shards, trained_run, tmp_path_factory):
    """One evaluation of the trained run with --report, --json and predictions."""
    out = tmp_path_factory.mktemp("report")
    arguments = [
        "--checkpoint",
        str(trained_run),
        "--report",
        str(out / "report"),
        "--report-images",
        "10",  # more than the split's 4
        "--json",
        str(out / "eval.json"),
        "--save-predictions",
        str(out / "predictions"),
    ]
    assert run_evaluate(demo_shards, *arguments) == 0
    return out


def test_the_report_scores_each_image_as_its_saved_prediction_does(
    demo_shards, evaluated
):
    record = json.loads((evaluated / "report" / "report.json").read_text())
    recipe = load_recipe(RECIPE, tiny_overrides(demo_shards))
    by_hand = {}
    for example in eval_images(recipe):
        image_id = example["id"].numpy().decode()
        labels = np.array(Image.open(evaluated / "predictions" / f"{image_id}.png"))
        by_hand[image_id] = brute_force_miou(example["label"].numpy(), labels)
    assert len(by_hand) == 4 == record["images"]
    assert {entry["id"]: entry["miou"] for entry in record["per_image"]} == (
        pytest.approx(by_hand)
    )
    worst = sorted(by_hand, key=lambda i: (by_hand[i], list(by_hand).index(i)))
    assert [entry["id"] for entry in record["worst"]] == worst  # K > split: all
    figures = json.loads((evaluated / "eval.json").read_text())
    assert record["confusion_matrix"] == figures["confusion_matrix"]
    assert record["miou"] == pytest.approx(figures["miou"])
    assert record["settings"]["scales"] == [0.75, 1.0] and record["settings"]["flip"]
    assert record["checkpoint"].endswith("ckpt-6") and record["step"] == 6
    assert figures["code"] == version_line()  # the code that made the figures


def test_the_json_confusion_picture_is_the_reports(evaluated):
    ours = np.asarray(Image.open(evaluated / "eval.confusion.png"))
    report = np.asarray(Image.open(evaluated / "report" / "confusion.png"))
    np.testing.assert_array_equal(ours, report)


def test_tensorboard_gets_the_three_pictures_under_eval(evaluated, trained_run):
    images = {}
    for path in (trained_run / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("eval/") and value.HasField("tensor"):
                    if value.metadata.plugin_data.plugin_name == "images":
                        images[value.tag] = (event.step, value.tensor)
    assert set(images) >= {"eval/confusion", "eval/class_iou", "eval/worst"}
    step, tensor = images["eval/confusion"]
    width, height = (int(v) for v in tensor.string_val[:2])
    png = Image.open(evaluated / "report" / "confusion.png")
    assert step == 6 and (width, height) == png.size


def test_a_folder_that_is_not_a_report_is_refused_before_any_work(
    demo_shards, trained_run, tmp_path, capsys
):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    code = run_evaluate(
        demo_shards, "--checkpoint", str(trained_run), "--report", str(folder)
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{folder}: holds files" in err[0], err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("where", ["sysfs", "a file"])
def test_an_unwritable_report_place_is_refused_before_any_work(
    demo_shards, trained_run, tmp_path, capsys, where
):
    if where == "sysfs":  # refuses new folders, even to root
        report, parent = Path("/sys/tfdeeplab-report/report"), Path("/sys")
    else:
        (tmp_path / "notes.txt").write_text("keep me")
        report, parent = tmp_path / "notes.txt" / "report", tmp_path / "notes.txt"
    code = run_evaluate(
        demo_shards, "--checkpoint", str(trained_run), "--report", str(report)
    )
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {report}: cannot write the report there")
    assert str(parent) in err[0]
    assert "evaluating" not in captured.out  # nothing was evaluated
    assert where == "sysfs" or (tmp_path / "notes.txt").read_text() == "keep me"


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browse(page, *flags):
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--virtual-time-budget=10000",
        *flags,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(
    chromium() is None, reason="no Chromium (Debian: apt-get install chromium)"
)
def test_a_real_browser_shows_the_three_pictures(evaluated, tmp_path):
    page = evaluated / "report" / "index.html"
    dom = browse(page, "--window-size=1400,1000", "--dump-dom").stdout
    images = re.findall(r'<img src="([^"]+)"[^>]*>', dom)
    assert images == ["confusion.png", "class_iou.png", "worst.png"], dom[:2000]
    assert 'class="missing"' not in dom
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    shot = tmp_path / "page.png"
    browse(page, f"--window-size=1400,{height}", f"--screenshot={shot}")
    screen = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert screen.shape[:2] == (height, 1400) and screen.std() > 20
    for tag in re.findall(r"<img [^>]*>", dom):
        name = re.search(r'src="([^"]+)"', tag).group(1)
        left, top, width, shown = map(
            int, re.search(r'data-rect="([\d,]+)"', tag).group(1).split(",")
        )
        natural = re.search(r'data-natural="(\d+)x(\d+)"', tag).groups()
        picture = Image.open(evaluated / "report" / name).convert("RGB")
        assert picture.size == tuple(map(int, natural))
        crop = screen[top : top + shown, left : left + width]
        expected = np.asarray(picture.resize((width, shown)), np.float32)
        # The page shows the picture where it laid it out (not blank, not another).
        assert crop.shape == expected.shape and crop.std() > 10, name
        assert np.abs(crop - expected).mean() < 12, name
