"""Stopping a run cleanly on Ctrl-C or SIGTERM (a scheduler's preemption notice).

The first SIGINT or SIGTERM only sets a flag: the training loop finishes the step it
is in, writes a checkpoint of that step and returns, so the same command continues
exactly there. The handlers are removed as soon as the first signal arrives, so a
second one acts as it normally would (KeyboardInterrupt, or termination); even then
the newest complete checkpoint is kept (see `checkpoints.py`).
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """A context manager that turns the first SIGINT/SIGTERM into a stop request.

    Signal handlers can only be installed from the main thread; elsewhere, or with
    `enabled=False`, signals keep their usual effect and `requested` stays None.

    Args:
        enabled: bool. Install the handlers. Defaults to True.

    Example:
        >>> with StopRequests() as stop:
        ...     for step in range(start, end):
        ...         train_one_step()
        ...         if stop.requested:
        ...             save_checkpoint(step)
        ...             break
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.requested: signal.Signals | None = None
        self._previous: dict = {}

    def __enter__(self) -> StopRequests:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum)
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __exit__(self, *exc_info) -> None:
        self._restore()
