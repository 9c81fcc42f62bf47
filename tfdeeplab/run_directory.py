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
from pathlib import Path

from tfdeeplab.file_lock import LockHeldError, exclusive_lock

RECIPE_FILE = "recipe.yaml"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints are `ckpt-<step>`
LOCK_FILE = "run.lock"


# Another process trains in the directory; the message names it.
RunInUseError = LockHeldError


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

    def locked(self) -> contextlib.AbstractContextManager:
        """Hold the directory for this process while the block runs.

        An advisory lock on `run.lock` (see `tfdeeplab.file_lock`): a lock of a
        process that was killed is never in the way.

        Raises:
            RunInUseError: another process holds the directory (one line naming it).
            OSError: the directory cannot be created or written.

        Example:
            >>> with RunDirectory(Path("runs/voc")).locked():
            ...     train_in_it()
        """
        self.root.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(self.root / LOCK_FILE, f"{self.root}")
