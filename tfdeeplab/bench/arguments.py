"""What the benchmarks share: argument types for counts (from `tfdeeplab.cli`), and
the error a benchmark ends with when its figures would mean nothing."""

from __future__ import annotations

from tfdeeplab.cli import non_negative_int, positive_int
from tfdeeplab.errors import TfdeeplabError

__all__ = ["BenchmarkError", "non_negative_int", "positive_int"]


class BenchmarkError(TfdeeplabError, RuntimeError):
    """A benchmark that cannot give a meaningful figure; the message says why."""
