"""Timing a step the way every benchmark here does: warm up, then the median."""

from __future__ import annotations

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
