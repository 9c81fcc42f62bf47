"""What a training run shows while it runs: a progress bar or log lines, and scalars.

The bar (tqdm) shows the running loss, the learning rate and images/s on a terminal;
without one (`--no-progress`, or stderr not a terminal: a log file, a cluster job) a
line is printed every `log_every` steps instead. Every
`log_every` steps the window's mean loss, the learning rate and the window's images/s
also go to TensorBoard.
"""

from __future__ import annotations

import collections
import math
import sys
import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from tfdeeplab.progress_display import is_terminal


class TrainingProgress:
    """Progress of one training loop.

    Args:
        total_steps: int. Steps of the whole schedule.
        start_step: int. Step the loop starts after (0, or where a run resumed).
        global_batch: int. Images per step over all replicas.
        log_every: int. Steps between logged windows.
        show_bar: bool. Show a progress bar when stderr is a terminal; otherwise
            (or when stderr is not one) log lines.
        log: function taking one line of text.
        scalars: function (step, {name: value}) writing TensorBoard scalars.

    Example:
        >>> progress = TrainingProgress(100, 0, 10, 20, True, print, summaries.scalars)
        >>> for step in range(1, 101):
        ...     progress.update(step, loss=float(train_step(batch)), learning_rate=1e-3)
        >>> progress.close()
        >>> progress.final_loss, progress.images_per_second
    """

    def __init__(
        self,
        total_steps: int,
        start_step: int,
        global_batch: int,
        log_every: int,
        show_bar: bool,
        log: Callable[[str], None],
        scalars: Callable[[int, dict], None],
    ):
        self.total_steps = total_steps
        self.global_batch = global_batch
        self.log_every = log_every
        self.log = log
        self.scalars = scalars
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            unit="step",
            disable=not (show_bar and is_terminal(sys.stderr)),
            dynamic_ncols=True,
        )
        self.final_loss = math.nan
        self._window: list[float] = []
        self._recent = collections.deque(maxlen=log_every)
        self._window_start = self._loop_start = time.perf_counter()
        self._timed_start: float | None = None
        self._timed_steps = 0
        self._last_step_end = self._loop_start

    def update(self, step: int, loss: float, learning_rate: float) -> None:
        """Record that `step` finished with `loss` at `learning_rate`."""
        now = self._last_step_end = time.perf_counter()
        if self._timed_start is None:
            self._timed_start = now  # the first step traces and compiles; not timed
        else:
            self._timed_steps += 1
        self._window.append(loss)
        self._recent.append(loss)
        throughput = self.images_per_second if self._timed_steps else 0.0
        self.bar.set_postfix(
            loss=f"{np.mean(self._recent):.4f}",
            lr=f"{learning_rate:.2e}",
            img_s=f"{throughput:.1f}",
            refresh=False,
        )
        self.bar.update(1)
        if step % self.log_every == 0 or step == self.total_steps:
            self.final_loss = float(np.mean(self._window))
            elapsed = max(now - self._window_start, 1e-9)
            window_rate = len(self._window) * self.global_batch / elapsed
            self.scalars(
                step,
                {
                    "train/loss": self.final_loss,
                    "train/learning_rate": learning_rate,
                    "train/images_per_second": window_rate,
                },
            )
            if self.bar.disable:  # logs without a progress bar still show the run
                self.log(
                    f"step {step}/{self.total_steps}  loss {self.final_loss:.4f}  "
                    f"lr {learning_rate:.2e}  {window_rate:.1f} img/s"
                )
            self._window, self._window_start = [], now

    def write(self, message: str) -> None:
        """Print a line above the progress bar (not through it), or log it."""
        if self.bar.disable:
            self.log(message)
        else:
            self.bar.write(message)

    def close(self) -> None:
        """Remove the bar; `final_loss` then covers the steps since the last window."""
        self.bar.close()
        if self._window:
            self.final_loss = float(np.mean(self._window))

    @property
    def seconds(self) -> float:
        """Wall time from the start of the loop to the end of its last step."""
        return self._last_step_end - self._loop_start

    @property
    def images_per_second(self) -> float:
        """Training throughput after the first (tracing) step; NaN before."""
        if not self._timed_steps:
            return math.nan
        elapsed = max(self._last_step_end - self._timed_start, 1e-9)
        return self._timed_steps * self.global_batch / elapsed
