"""The layout of a training run's directory, for everything that reads or writes one.

    runs/voc/
        recipe.yaml        the fully resolved recipe the run trains
        checkpoints/       ckpt-<step>.index/.data-*, and the `checkpoint` index file
        tensorboard/       event files

Training writes it; evaluation, prediction and export find a run's recipe and newest
checkpoint through the same names, without importing the training code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

RECIPE_FILE = "recipe.yaml"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints are `ckpt-<step>`


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
