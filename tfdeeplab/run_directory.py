"""The layout of a training run's directory, for everything that reads or writes one.

    runs/voc/
        recipe.yaml        the fully resolved recipe the run trains
        checkpoints/       ckpt-<step>.index/.data-*, and the `checkpoint` index file
        tensorboard/       event files
        run.lock           held (flock) by the process training in the directory

Training writes it; evaluation, prediction and export find a run's recipe and newest
checkpoint through the same names, without importing the training code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Iterator
from pathlib import Path

RECIPE_FILE = "recipe.yaml"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints are `ckpt-<step>`
LOCK_FILE = "run.lock"


class RunInUseError(RuntimeError):
    """Another process holds the run directory; the message names it."""


@dataclasses.dataclass(frozen=True)
class RunDirectory:
    """A run directory and the paths inside it.

    Args:
        root: Path. The run directory (`--workdir`).

    Example:
        >>> run = RunDirectory(Path("runs/voc"))
        >>> load_recipe(run.recipe), run.latest_checkpoint()
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def recipe(self) -> Path:
        """The resolved recipe the run trains (`recipe.yaml`)."""
        return self.root / RECIPE_FILE

    @property
    def checkpoints(self) -> Path:
        """The checkpoint directory."""
        return self.root / CHECKPOINTS_DIR

    @property
    def tensorboard(self) -> Path:
        """The TensorBoard log directory."""
        return self.root / TENSORBOARD_DIR

    def checkpoint(self, step: int) -> Path:
        """The path prefix of the checkpoint of `step` (whether it exists or not)."""
        return self.checkpoints / f"{CHECKPOINT_PREFIX}-{step}"

    def latest_checkpoint(self) -> str | None:
        """The path prefix of the newest complete checkpoint, or None.

        Reads the `checkpoint` index file, which is rewritten only after a
        checkpoint's files are complete.
        """
        import tensorflow as tf

        return tf.train.latest_checkpoint(str(self.checkpoints))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory for this process while the block runs.

        An advisory `flock` on `run.lock`, which names the holder. The system
        releases it when the holder exits in any way, so a lock of a process that
        was killed is never in the way; the file itself stays.

        Raises:
            RunInUseError: another process holds the directory (one line naming it).
            OSError: the directory cannot be created or written.

        Example:
            >>> with RunDirectory(Path("runs/voc")).locked():
            ...     train_in_it()
        """
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunInUseError(
                    f"{self.root}: in use by {holder}; wait for that run to end or "
                    "stop it, or choose another --workdir"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
