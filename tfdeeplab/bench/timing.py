"""Timing a step the way every benchmark here does (warm up, then the median), and
its memory: the peak resident set, sampled."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import numpy as np


def median_seconds(step: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """The median wall time of `repeats` calls of `step`, after `warmup` untimed ones.

    Example:
        >>> median_seconds(lambda: forward().numpy(), repeats=5, warmup=2)
    """
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def rss_bytes() -> int:
    """The process's resident set now (Linux)."""
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * resource.getpagesize()


class PeakSampler:
    """The highest resident set seen by a thread sampling every millisecond.

    Example:
        >>> with PeakSampler() as sampler:
        ...     step()
        >>> sampler.peak - before
    """

    def __init__(self):
        import threading

        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
