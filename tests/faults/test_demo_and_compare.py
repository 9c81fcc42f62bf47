"""The demo and the comparison under faults: damaged state files, cut event
files, Ctrl-C in the data step, impossible settings.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import shutil
import struct
from pathlib import Path

import pytest

from tests.helpers import one_error_line


def test_a_damaged_demo_or_compare_state_file_redoes_its_step(tmp_path, capsys):
    from tfdeeplab.state_files import StepRecord, read_state

    state = tmp_path / "demo_steps.json"
    state.write_text("{ not json")
    steps = StepRecord(state, log=print)
    assert steps.values == {} and not steps.reused("evaluate", "ckpt-6", [])
    assert f"note: {state} is damaged" in capsys.readouterr().out
    garbled = tmp_path / "eval.json"
    garbled.write_text("[1, 2")
    assert read_state(garbled) is None
    assert read_state(tmp_path / "absent.json") == {}


def _cut_inside_the_record_of(path: Path, tag: str, step: int) -> None:
    """Cut a TFRecord file of events in the middle of the record holding `tag`
    at `step` (a record: length, its CRC, the data, the data's CRC)."""
    import tensorflow as tf

    data, offset = path.read_bytes(), 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        event = tf.compat.v1.Event.FromString(data[offset + 12 : offset + 12 + length])
        if event.step == step and any(v.tag == tag for v in event.summary.value):
            path.write_bytes(data[: offset + 12 + length // 2])
            return
        offset += 16 + length
    raise AssertionError(f"no {tag} at step {step} in {path}")


def test_a_cut_event_file_gives_the_points_before_the_cut(
    trained_run, tmp_path, capsys
):
    from tfdeeplab.comparison.runs import read_scalars

    board = tmp_path / "tensorboard"
    shutil.copytree(trained_run / "tensorboard", board)
    whole = read_scalars(board, ("train/loss",))["train/loss"]
    # The training's file (evaluations of the run add files of their own).
    event_file = next(
        path
        for path in sorted(board.glob("events.out.tfevents.*"))
        if read_scalars(board, ("train/loss",))["train/loss"]
        and b"train/loss" in path.read_bytes()
    )
    _cut_inside_the_record_of(event_file, "train/loss", step=4)
    lines = []
    some = read_scalars(board, ("train/loss",), log=lines.append)["train/loss"]
    assert 0 < len(some) < len(whole) and some == whole[: len(some)]
    assert len(lines) == 1 and lines[0].startswith(f"note: {event_file}: cut short")


@pytest.mark.parametrize("stage", ["sources", "conversion"])
def test_ctrl_c_in_the_demos_data_step_is_one_line_and_the_demo_continues(
    tmp_path, stage, monkeypatch, capsys
):
    from tfdeeplab import demo
    from tfdeeplab.experiment import demo_job
    from tfrecords_tools import voc

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    target = "_write_demo_sources" if stage == "sources" else None
    if target:
        monkeypatch.setattr(demo_job, target, interrupted)
    else:
        monkeypatch.setattr(voc, "convert_voc", interrupted)
    arguments = [
        "--dir",
        str(tmp_path / "demo"),
        "--images",
        "4",
        "2",
        "--image-size",
        "32",
        "40",
        "--set",
        "train.max_steps=1",
    ]
    assert demo.main(arguments) == 130
    data = tmp_path / "demo" / "data"
    assert one_error_line(capsys) == (
        f"error: interrupted while writing the demo data in {data}; run the same "
        "command to continue"
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--images", "0", "0"], "--images: expected at least 1, got 0"),
        (["--image-size", "1", "1"], "--image-size 1 1: expected at least 16 pixels"),
        (["--images", "2", "1"], "at least 4 training images (train.batch_size)"),
    ],
)
def test_impossible_demo_settings_are_one_line(tmp_path, arguments, message, capsys):
    from tfdeeplab import demo

    try:
        code = demo.main(["--dir", str(tmp_path / "demo"), *arguments])
    except SystemExit as exit:  # argparse's usage error
        code = exit.code
    assert code == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "demo" / "data" / "sources").exists()


def test_compare_refuses_negative_replicas_in_one_line(tmp_path, capsys):
    from tfdeeplab import compare

    with pytest.raises(SystemExit) as raised:
        compare.main(["voc", "--out", str(tmp_path), "--replicas", "-1"])
    assert raised.value.code == 2
    assert "--replicas: expected at least 0, got -1" in one_error_line(capsys)
