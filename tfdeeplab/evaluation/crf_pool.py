"""The dense CRF in worker processes, so it overlaps the network.

The CRF is single-threaded C++ on the CPU and takes about as long per VOC image as
the network's multi-scale pass; run in line it doubles the evaluation time. A
`CrfPool` hands each image's probabilities to one of several spawned processes and
gives back futures of label maps, which the evaluator consumes in submission order
while the network works on the next images. At most `2 x workers` images are in
flight, so memory stays bounded however long the split is.

The workers import only NumPy and `pydensecrf` (this module and `crf.py` load no
TensorFlow), ignore Ctrl-C (the parent decides) and are terminated when the pool
closes.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.evaluation.crf import dense_crf, require_crf


class CrfWorkerError(TfdeeplabError, RuntimeError):
    """A CRF worker process died; the message says which image was lost."""


def crf_labels(probabilities: np.ndarray, rgb: np.ndarray, crf: dict) -> np.ndarray:
    """The CRF-refined label map of one image: argmax of `dense_crf`.

    Args:
        probabilities: float [H, W, C].
        rgb: uint8 [H, W, 3].
        crf: dict. `dense_crf` keyword arguments.

    Returns:
        int32 [H, W].

    Example:
        >>> crf_labels(probabilities, rgb, {"iterations": 10})
    """
    return dense_crf(probabilities, rgb, **crf).argmax(-1).astype(np.int32)


def default_workers() -> int:
    """One CRF process per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class CrfPool:
    """Worker processes that run the dense CRF, results in submission order.

    Args:
        crf: dict. `dense_crf` keyword arguments (`crf_arguments(recipe)`).
        workers: int. Processes; 0 for one per CPU core. Defaults to 0.

    Raises:
        CrfUnavailableError: without the pydensecrf2 package (before any process
            starts).

    Example:
        >>> with CrfPool(crf_arguments(recipe)) as pool:
        ...     for key, labels in pool.ordered(keys_probabilities_and_rgb):
        ...         ...
    """

    def __init__(self, crf: dict, workers: int = 0):
        require_crf()
        self.crf = dict(crf)
        self.workers = workers or default_workers()
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_interrupts,
        )

    def submit(self, probabilities: np.ndarray, rgb: np.ndarray) -> Future:
        """Start one image's CRF; the future's result is its int32 label map."""
        return self._executor.submit(crf_labels, probabilities, rgb, self.crf)

    def ordered(
        self,
        items: Iterable[tuple[object, np.ndarray, np.ndarray]],
        name: Callable[[object], str] = str,
    ) -> Iterator[tuple[object, np.ndarray]]:
        """Run the CRF over a stream, keeping the workers busy, yielding in order.

        Args:
            items: iterable of (key, probabilities [H, W, C], rgb [H, W, 3]). A
                generator that runs the network is advanced while earlier images
                are in the CRF, so the two overlap.
            name: function from a key to the image's name in an error (its id,
                not the whole example). Defaults to `str`.

        Yields:
            (key, labels int32 [H, W]) in the order of `items`.

        Raises:
            CrfWorkerError: a worker died (e.g. out of memory); names the key.
        """
        pending: collections.deque = collections.deque()
        for key, probabilities, rgb in items:
            with self._naming(name(key)):
                pending.append((key, self.submit(probabilities, rgb)))
            while len(pending) > 2 * self.workers or (pending and pending[0][1].done()):
                yield self._result(*pending.popleft(), name)
        while pending:
            yield self._result(*pending.popleft(), name)

    def _result(self, key: object, future: Future, name) -> tuple[object, np.ndarray]:
        with self._naming(name(key)):
            return key, future.result()

    @staticmethod
    @contextlib.contextmanager
    def _naming(image: str):
        """A broken pool as a one-line error naming the image."""
        try:
            yield
        except BrokenProcessPool:
            raise CrfWorkerError(
                f"a dense CRF worker process died while refining {image} (out of "
                "memory?); try fewer eval.crf.workers"
            ) from None

    def close(self) -> None:
        """Stop the workers, dropping any work not yet started."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CrfPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
