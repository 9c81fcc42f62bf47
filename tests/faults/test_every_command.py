"""Faults every command meets alike: `~` after `=`, outputs that cannot be
written, `--set` words, CUDA's complaint at start.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import os
import re
import shutil

import pytest

from tests.helpers import (
    UNWRITABLE,
    evaluate_command,
    export_command,
    one_error_line,
    photos,
    predict_command,
    tiny_overrides,
)
from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab import predict as predict_cli
from tfdeeplab import train as train_cli
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.export.__main__ import main as export_cli
from tfdeeplab.weights.__main__ import main as weights_cli


def test_a_tilde_after_an_equals_sign_is_the_home_folder(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    shutil.copy(RECIPE, home / "demo.yaml")
    shutil.copy(RECIPE.parent / "voc.yaml", home / "voc.yaml")  # its base
    recipe = "~/demo.yaml"
    image = photos(tmp_path / "in", 1)[0]
    overrides = ["--set", *tiny_overrides(demo_shards), "eval.scales=[1.0]"]
    assert (
        predict_cli.main(
            [
                str(image),
                "--recipe",
                recipe,
                f"--checkpoint={trained_run}",
                "--out=~/preds",
                *overrides,
            ]
        )
        == 0
    )
    assert (
        export_cli([recipe, f"--checkpoint={trained_run}", "--out=~/model", *overrides])
        == 0
    )
    assert (
        evaluate_cli.main(
            [
                recipe,
                f"--checkpoint={trained_run}",
                "--json=~/e.json",
                "--no-progress",
                *overrides,
            ]
        )
        == 0
    )
    assert (home / "preds" / "photo0.png").is_file()
    assert (home / "model" / "saved_model.pb").is_file()
    assert (home / "e.json").is_file()
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(
    "case",
    [
        "json into a missing folder",
        "json onto a folder",
        "predictions onto a file",
        "predictions unwritable",
        "predict onto a file",
        "predict unwritable",
        "export unwritable",
        "weights onto a folder",
        "weights unwritable",
        "demo unwritable",
        "demo onto a file",
    ],
)
def test_an_output_that_cannot_be_written_is_one_line(
    demo_shards, trained_run, tmp_path, case, capsys
):
    from tfdeeplab import demo

    blocker = tmp_path / "a file"
    blocker.write_text("")
    folder = tmp_path / "a folder"
    folder.mkdir()
    checkpoint = ["--checkpoint", str(trained_run)]
    if case == "json into a missing folder":
        code = evaluate_command(
            demo_shards, *checkpoint, "--json", str(tmp_path / "no" / "e")
        )
    elif case == "json onto a folder":
        code = evaluate_command(demo_shards, *checkpoint, "--json", str(folder))
    elif case.startswith("predictions"):
        target = blocker if case.endswith("file") else UNWRITABLE
        code = evaluate_command(
            demo_shards, *checkpoint, "--save-predictions", str(target)
        )
    elif case.startswith("predict "):
        target = blocker if case.endswith("file") else UNWRITABLE
        code = predict_command(
            demo_shards,
            *map(str, photos(tmp_path / "in", 1)),
            "--recipe",
            str(RECIPE),
            *checkpoint,
            "--out",
            str(target),
        )
    elif case == "export unwritable":
        code = export_command(
            demo_shards, *checkpoint, "--out", str(UNWRITABLE / "model")
        )
    elif case.startswith("weights"):
        target = tmp_path / "w.npz" if case.endswith("folder") else UNWRITABLE / "w.npz"
        if case.endswith("folder"):
            target.mkdir()
        source = tmp_path / "r.params"
        source.write_bytes(b"\x12\x01" + bytes(30))
        code = weights_cli(
            [
                "import",
                "--format",
                "mxnet",
                "--source",
                str(source),
                "--recipe",
                str(RECIPE),
                "--out",
                str(target),
            ]
        )
    else:
        target = blocker if case.endswith("file") else UNWRITABLE
        code = demo.main(["--dir", str(target), "--images", "4", "4"])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("error: "), line
    assert blocker.read_text() == "" and list(folder.iterdir()) == []


def test_set_ends_at_a_word_without_an_equals_sign(demo_shards, trained_run, tmp_path):
    image = photos(tmp_path / "in", 1)[0]
    out = tmp_path / "out"
    code = predict_cli.main(
        [
            "--recipe",
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
            str(image),
            "--out",
            str(out),
        ]
    )
    assert code == 0 and (out / "photo0.png").is_file()


def test_a_set_word_right_after_set_without_equals_is_refused(capsys):
    with pytest.raises(SystemExit) as raised:
        train_cli.main([str(RECIPE), "--set", "photo.jpg"])
    assert raised.value.code == 2
    assert "--set: expected KEY=VALUE, got 'photo.jpg'" in one_error_line(capsys)


@pytest.mark.slow
def test_a_command_starts_without_tensorflows_cuda_complaint(tmp_path):
    """No `failed call to cuInit` (nor any other TensorFlow start-up notice) on a
    machine without an NVIDIA driver, unless `--verbose` asks for them."""
    import subprocess
    import sys

    from tfdeeplab.cli import _has_nvidia_driver

    if _has_nvidia_driver():
        pytest.skip("this machine has an NVIDIA driver: cuInit succeeds here")
    environment = {
        key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfdeeplab.describe",
            str(RECIPE),
            "--set",
            "data.crop_size=[33, 33]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert finished.returncode == 0, finished.stderr
    assert "cuInit" not in finished.stderr and finished.stderr.strip() == ""
    assert "parameters" in finished.stdout
    # --verbose asks for TensorFlow's notices: its C++ log lines come back.
    verbose = subprocess.run(
        [*finished.args, "--verbose"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert verbose.returncode == 0, verbose.stderr
    notices = re.findall(r"^\S+ \S+: [IWE] \S+\.cc:\d+\]", verbose.stderr, re.M)
    assert notices and "cuInit" in verbose.stderr, verbose.stderr
    assert "parameters" in verbose.stdout
