"""Progress away from a terminal: whole lines at each tenth or minute, and the end."""

import io

from tfdeeplab.progress_display import LineProgress, is_terminal, progress_bar


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_line_at_every_tenth_and_one_at_the_end():
    stream, clock = io.StringIO(), Clock()
    bar = LineProgress(total=200, desc="val", unit="img", stream=stream, clock=clock)
    for _ in range(200):
        clock.now += 0.5
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "val: 20/200 img (10%), 10.0 s, 2 img/s"
    assert lines[-1] == "val: 200/200 img (100%), 100.0 s, 2 img/s"
    assert "\r" not in stream.getvalue()


def test_a_slow_count_prints_at_least_every_interval_and_shows_seconds_per_unit():
    stream, clock = io.StringIO(), Clock()
    bar = LineProgress(total=1000, unit="img", stream=stream, clock=clock)
    for _ in range(3):
        clock.now += 70.0  # one image each 70 s: under 10% for a long while
        bar.update(1)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "1/1000 img (0%), 70.0 s, 70 s/img",
        "2/1000 img (0%), 140.0 s, 70 s/img",
        "3/1000 img (0%), 210.0 s, 70 s/img",
    ]


def test_an_unknown_total_prints_by_the_interval_and_at_the_end():
    stream, clock = io.StringIO(), Clock()
    items = (x for x in range(50))
    bar = LineProgress(items, desc="write", stream=stream, clock=clock)
    seen = []
    for item in bar:
        clock.now += 2.0
        seen.append(item)
    assert seen == list(range(50))
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("write: 50 it, 100.0 s")
    assert len(lines) == 2  # at 60 s, and at the end


def test_postfix_writes_and_disable():
    stream, clock = io.StringIO(), Clock()
    bar = LineProgress(total=2, stream=stream, clock=clock, percent_step=50)
    bar.set_postfix(loss="0.51", lr="1e-3")
    clock.now = 1.0
    bar.update(1)
    bar.write("a note")
    bar.close()
    bar.close()  # once
    assert stream.getvalue().splitlines() == [
        "1/2 it (50%), 1.0 s, 1 it/s, loss 0.51, lr 1e-3",
        "a note",
    ]
    quiet = io.StringIO()
    bar = LineProgress(range(3), stream=quiet, disable=True)
    assert list(bar) == [0, 1, 2] and quiet.getvalue() == ""


def test_progress_bar_is_lines_away_from_a_terminal_and_tqdm_on_one():
    stream = io.StringIO()
    assert not is_terminal(stream) and not is_terminal(None)
    bar = progress_bar(total=10, desc="x", stream=stream)
    assert isinstance(bar, LineProgress)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tqdm import tqdm

    terminal = Terminal()
    bar = progress_bar(total=10, desc="x", stream=terminal)
    assert isinstance(bar, tqdm)
    bar.update(10)
    bar.close()
    assert "\r" in terminal.getvalue()
