"""The layout of a training run's directory, for everything that reads or writes one.

    runs/voc/
        recipe.yaml        the fully resolved recipe the run trains
        checkpoints/       ckpt-<step>.index/.data-*, and the `checkpoint` index file
        tensorboard/       event files
        run.lock           held (flock) by the process training in the directory

Training writes it; evaluation, prediction, export, the demo and the comparison find
a run's recipe and newest checkpoint through the same names and the same function,
`newest_checkpoint`, without importing the training code. It goes by the checkpoint
files themselves, not by the `checkpoint` index file, so a deleted or garbled index
hides nothing: training resumes from, and everything else reads, the same one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path

from tfdeeplab.file_lock import exclusive_lock

RECIPE_FILE = "recipe.yaml"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"  # checkpoints are `ckpt-<step>`


def checkpoint_name(step: int) -> str:
    """The file prefix of the checkpoint of `step`.

    Example:
        >>> checkpoint_name(2000)
        'ckpt-2000'
    """
    return f"{CHECKPOINT_PREFIX}-{step}"


LOCK_FILE = "run.lock"
# The final checkpoint's evaluation record a job keeps in the run (demo, compare).
EVAL_FILE = "eval.json"
_CHECKPOINT_FILE = re.compile(
    rf"^{CHECKPOINT_PREFIX}-(\d+)\.(index|data-(\d+)-of-(\d+))$"
)


def checkpoint_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the checkpoints with any file in `directory`, newest first.

    Example:
        >>> checkpoint_steps("runs/voc/checkpoints")
        [2000, 1000]
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    steps = {
        int(match[1])
        for match in map(_CHECKPOINT_FILE.match, os.listdir(directory))
        if match
    }
    return sorted(steps, reverse=True)


def complete_checkpoint_steps(directory: str | os.PathLike) -> list[int]:
    """Steps whose checkpoint has all its files (the `.index` and every data
    shard it was written with), newest first.

    A save writes the data files first and the `.index` last, so a checkpoint
    with both is one a save finished; whether its bytes are intact only a
    restore can tell.

    Example:
        >>> complete_checkpoint_steps("runs/voc/checkpoints")
        [2000, 1000]
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found: dict[int, dict] = {}
    for name in os.listdir(directory):
        match = _CHECKPOINT_FILE.match(name)
        if not match:
            continue
        files = found.setdefault(int(match[1]), {"index": False, "data": set()})
        if match[2] == "index":
            files["index"] = True
        else:
            files["data"].add((int(match[3]), int(match[4])))
    complete = [
        step
        for step, files in found.items()
        if files["index"]
        and files["data"]
        and {index for index, _ in files["data"]}
        == set(range(next(iter(files["data"]))[1]))
    ]
    return sorted(complete, reverse=True)


def newest_checkpoint(directory: str | os.PathLike) -> str | None:
    """The path prefix of the newest complete checkpoint in `directory`, or None.

    The one answer to "the newest checkpoint of a run" for every command; it
    reads the files, not the `checkpoint` index.

    Args:
        directory: str or PathLike. A run's `checkpoints/` folder.

    Example:
        >>> newest_checkpoint("runs/voc/checkpoints")
        'runs/voc/checkpoints/ckpt-2000'
    """
    steps = complete_checkpoint_steps(directory)
    if not steps:
        return None
    return str(Path(directory) / checkpoint_name(steps[0]))


def run_directory_of(checkpoint: str | os.PathLike) -> RunDirectory | None:
    """The run directory a trainer's checkpoint prefix is in, or None.

    Example:
        >>> run_directory_of("runs/voc/checkpoints/ckpt-2000").root
        PosixPath('runs/voc')
        >>> run_directory_of("weights/voc.weights.h5") is None
        True
    """
    parent = Path(checkpoint).parent
    if parent.name == CHECKPOINTS_DIR and _CHECKPOINT_FILE.match(
        f"{Path(checkpoint).name}.index"
    ):
        return RunDirectory(parent.parent)
    return None


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
        return self.checkpoints / checkpoint_name(step)

    def latest_checkpoint(self) -> str | None:
        """The path prefix of the newest complete checkpoint, or None.

        By the files (`newest_checkpoint`): a lost or garbled `checkpoint` index
        changes nothing.
        """
        return newest_checkpoint(self.checkpoints)

    def locked(self) -> contextlib.AbstractContextManager:
        """Hold the directory for this process while the block runs.

        An advisory lock on `run.lock` (see `tfdeeplab.file_lock`): a lock of a
        process that was killed is never in the way.

        Raises:
            LockHeldError: another process holds the directory (one line naming it).
            OSError: the directory cannot be created or written.

        Example:
            >>> with RunDirectory(Path("runs/voc")).locked():
            ...     train_in_it()
        """
        self.root.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(self.root / LOCK_FILE, f"{self.root}")
