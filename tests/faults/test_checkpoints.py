"""Checkpoints that are cut short, of another model or without their index, as
every command that reads one meets them.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import json

import pytest

from tests.helpers import (
    cut,
    evaluate_command,
    export_command,
    one_error_line,
    photos,
    predict_command,
    tiny_overrides,
)
from tfdeeplab.experiment.demo_job import RECIPE


@pytest.mark.parametrize("command", ["evaluate", "export", "predict"])
def test_a_cut_short_checkpoint_is_named_in_one_line(
    demo_shards, run_copy, tmp_path, command, capsys
):
    cut(next((run_copy / "checkpoints").glob("ckpt-6.data-*")), 0.5)
    out = tmp_path / "out"
    if command == "evaluate":
        code = evaluate_command(
            demo_shards, "--checkpoint", str(run_copy), "--json", str(out)
        )
    elif command == "export":
        code = export_command(
            demo_shards, "--checkpoint", str(run_copy), "--out", str(out)
        )
    else:
        code = predict_command(
            demo_shards,
            *map(str, photos(tmp_path / "in")),
            "--recipe",
            str(RECIPE),
            "--checkpoint",
            str(run_copy),
            "--out",
            str(out),
        )
    assert code == 2
    line = one_error_line(capsys)
    checkpoint = run_copy / "checkpoints" / "ckpt-6"
    assert line.startswith(f"error: {checkpoint}: ckpt-6.data-00000-of-00001 is cut ")
    assert line.endswith(f"an older one: {run_copy / 'checkpoints' / 'ckpt-4'}")
    assert not out.exists()


def test_a_checkpoint_of_another_model_is_one_line_and_nothing_more(
    demo_shards, trained_run, capfd
):
    import subprocess
    import sys

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfdeeplab.evaluate",
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
            "model.fc6_channels=32",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 2
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "fc6/kernel" in lines[0], finished.stderr


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
@pytest.mark.parametrize("command", ["evaluate", "export", "predict"])
def test_a_lost_checkpoint_index_hides_nothing_from_any_command(
    demo_shards, run_copy, tmp_path, damage, command, capsys
):
    """Training resumes by the checkpoint files; every other command reads the
    same newest checkpoint, not the `checkpoint` index."""
    index = run_copy / "checkpoints" / "checkpoint"
    if damage == "deleted":
        index.unlink()
    else:
        index.write_text("model_checkpoint_path: {{{ garbage\n")
    out = tmp_path / "out"
    checkpoint = ["--checkpoint", str(run_copy)]
    if command == "evaluate":
        code = evaluate_command(demo_shards, *checkpoint, "--json", str(out))
        assert json.loads(out.read_text())["checkpoint"].endswith("ckpt-6")
    elif command == "export":
        code = export_command(demo_shards, *checkpoint, "--out", str(out))
    else:
        code = predict_command(
            demo_shards,
            *map(str, photos(tmp_path / "in", 1)),
            "--recipe",
            str(RECIPE),
            *checkpoint,
            "--out",
            str(out),
        )
    assert code == 0
    assert str(run_copy / "checkpoints" / "ckpt-6") in capsys.readouterr().out
