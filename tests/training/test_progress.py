"""Progress: logged windows, TensorBoard scalars, final loss and throughput."""

import math

import pytest

from tfdeeplab.training.progress import TrainingProgress


def run(losses, *, start=0, total=None, log_every=2, show_bar=False):
    lines, scalars = [], []
    progress = TrainingProgress(
        total or start + len(losses),
        start,
        global_batch=4,
        log_every=log_every,
        show_bar=show_bar,
        log=lines.append,
        scalars=lambda step, values: scalars.append((step, values)),
    )
    for step, loss in enumerate(losses, start + 1):
        progress.update(step, loss, learning_rate=1e-3)
    progress.write("a message")
    progress.close()
    return progress, lines, scalars


def test_windows_are_logged_and_written_every_log_every_steps_and_at_the_end():
    progress, lines, scalars = run([1.0, 3.0, 2.0, 4.0, 6.0], start=10)
    assert [step for step, _ in scalars] == [12, 14, 15]
    assert [values["train/loss"] for _, values in scalars] == [2.0, 3.0, 6.0]
    assert all(values["train/learning_rate"] == 1e-3 for _, values in scalars)
    assert all(values["train/images_per_second"] > 0 for _, values in scalars)
    assert [line.split("  ")[0] for line in lines[:3]] == [
        "step 12/15",
        "step 14/15",
        "step 15/15",
    ]
    assert lines[3] == "a message"
    assert progress.final_loss == 6.0
    assert progress.images_per_second > 0 and progress.seconds > 0


def test_steps_after_the_last_window_make_the_final_loss():
    """A run stopped early (a signal) reports the loss of its unlogged steps."""
    progress, _, scalars = run([1.0, 3.0, 5.0], total=100)
    assert [step for step, _ in scalars] == [2]
    assert progress.final_loss == 5.0


def test_one_step_has_no_throughput_and_a_bar_prints_no_lines(capsys, monkeypatch):
    monkeypatch.setattr("tfdeeplab.training.progress.is_terminal", lambda _: True)
    progress, lines, _ = run([2.0], log_every=1, show_bar=True)
    assert math.isnan(progress.images_per_second)
    assert lines == []  # the bar shows the steps; its writes go to the terminal
    assert "a message" in capsys.readouterr().out
    assert progress.final_loss == pytest.approx(2.0)


def test_a_bar_asked_for_away_from_a_terminal_logs_lines_instead(capsys):
    """A cluster job's log gets the `log_every` lines, not carriage-return frames."""
    _, lines, _ = run([1.0, 3.0, 2.0, 4.0], log_every=2, show_bar=True)
    assert [line.split("  ")[0] for line in lines] == [
        "step 2/4",
        "step 4/4",
        "a message",
    ]
    assert "\r" not in capsys.readouterr().err
