"""Progress that reads well on a terminal and in a log file.

On a terminal, a tqdm bar redrawn in place. Anywhere else (a cluster job, `nohup`,
CI, `| tee`), carriage-return redraws would fill the file with every frame, so a
`LineProgress` prints one plain line every tenth of the way or every minute,
whichever comes first, and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TextIO

from tqdm import tqdm

LINE_PERCENT_STEP = 10
LINE_INTERVAL_SECONDS = 60.0


def is_terminal(stream: TextIO | None) -> bool:
    """Whether `stream` is an interactive terminal (False for None or a closed one)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """A progress display of whole lines, for output that is not a terminal.

    It takes the part of tqdm's interface the project uses: iteration over
    `iterable`, `update`, `set_postfix`, `write`, `close` and `disable`.

    Args:
        iterable: iterable or None. Items to pass through, counting each.
        total: int or None. The count at the end (`len(iterable)` if it has one).
        desc: str or None. What is counted, at the start of each line.
        unit: str. The unit of the count. Defaults to "it".
        disable: bool. Print nothing. Defaults to False.
        stream: text stream. Defaults to sys.stderr, read when a line is written.
        percent_step: int. A line each time this many percent more are done.
        interval_seconds: float. A line at least this often while counting.
        clock: function returning seconds; `time.monotonic` unless given (tests).

    Example:
        >>> for item in LineProgress(range(1000), desc="val", unit="img"):
        ...     pass
        val: 100/1000 img (10%), 0.1 s, 9.9e+03 img/s
        ...
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: int | None = None,
        desc: str | None = None,
        unit: str = "it",
        disable: bool = False,
        stream: TextIO | None = None,
        percent_step: int = LINE_PERCENT_STEP,
        interval_seconds: float = LINE_INTERVAL_SECONDS,
        clock=time.monotonic,
    ):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.disable = disable
        self.n = 0
        self._stream, self._step, self._interval = (
            stream,
            percent_step,
            interval_seconds,
        )
        self._clock = clock
        self._start = self._last_line = clock()
        self._next_percent = percent_step
        self._postfix = ""
        self._printed_at: int | None = None
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def update(self, count: int = 1) -> None:
        """Count `count` more; print a line when a step or the interval is reached."""
        self.n += count
        now = self._clock()
        percent = 100 * self.n / self.total if self.total else None
        due = now - self._last_line >= self._interval
        if percent is not None and percent >= self._next_percent:
            due = True
            while self._next_percent <= percent:
                self._next_percent += self._step
        if due:
            self._print_line(now)

    def set_postfix(self, refresh: bool = True, **values) -> None:
        """Figures shown at the end of the next line (`loss=0.51`)."""
        self._postfix = ", ".join(f"{key} {value}" for key, value in values.items())

    def write(self, message: str) -> None:
        """Print a line of text."""
        if not self.disable:
            print(message, file=self._stream or sys.stderr, flush=True)

    def close(self) -> None:
        """Print the final count, unless the last line already showed it."""
        if self._closed:
            return
        self._closed = True
        if self.n and self._printed_at != self.n:
            self._print_line(self._clock())

    def _print_line(self, now: float) -> None:
        self._last_line, self._printed_at = now, self.n
        elapsed = now - self._start
        of_total = f"/{self.total}" if self.total else ""
        percent = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        count = f"{self.n:.0f}" if isinstance(self.n, float) else f"{self.n}"
        parts = [f"{count}{of_total} {self.unit}{percent}", f"{elapsed:.1f} s"]
        if elapsed > 0 and self.n:
            rate = self.n / elapsed
            parts.append(
                f"{rate:.3g} {self.unit}/s"
                if rate >= 1
                else f"{1 / rate:.3g} s/{self.unit}"
            )
        if self._postfix:
            parts.append(self._postfix)
        prefix = f"{self.desc}: " if self.desc else ""
        self.write(prefix + ", ".join(parts))


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    disable: bool = False,
    stream: TextIO | None = None,
):
    """A tqdm bar on a terminal, else a `LineProgress`; both on stderr by default.

    Args:
        iterable: iterable or None. Items to pass through, counting each.
        total: int or None. The count at the end.
        desc: str or None. What is counted.
        unit: str. The unit of the count.
        disable: bool. Show nothing.
        stream: text stream or None. Where to write; sys.stderr unless given.

    Returns:
        An object with tqdm's `update`, `set_postfix`, `write`, `close`, `disable`,
        iterable when `iterable` is given.

    Example:
        >>> bar = progress_bar(total=1449, desc="val", unit="img")
        >>> bar.update(1)
        >>> bar.close()
    """
    stream = stream or sys.stderr
    if is_terminal(stream):
        return tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            disable=disable,
            file=stream,
            dynamic_ncols=True,
        )
    return LineProgress(
        iterable, total=total, desc=desc, unit=unit, disable=disable, stream=stream
    )
