"""Run checkpoints: model, optimizer and step, saved so that a crash never loses one.

`tf.train.CheckpointManager` writes a checkpoint's files first (through a
`ckpt-<step>_temp` directory) and only then rewrites the small `checkpoint` index file
and deletes the oldest checkpoint beyond `keep`. A process killed mid-save therefore
leaves the previous checkpoints complete.

Resuming does not trust the index file alone. The candidates are the checkpoints
found on disk, newest first; the first that restores wins. One that does not (a
truncated or flipped `.data` or `.index`, a missing file) is moved, untouched, to
`damaged/` beside the others and reported, so a later save of the same step cannot
overwrite it. The index is then rewritten to name the restored checkpoint, so a lost
or garbled index never makes a run start again from step 0. If checkpoints exist but
none restores, resuming is refused rather than starting over.

Under MultiWorkerMirroredStrategy every worker must take part in a save; workers
other than the chief write to a temporary directory and delete it afterwards (the
pattern TensorFlow documents), so only the chief's checkpoints remain. Only the chief
repairs the directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from tfdeeplab.atomic_files import write_text
from tfdeeplab.checkpoint_reading import READ_ERRORS, why_unreadable
from tfdeeplab.errors import TfdeeplabError, first_line
from tfdeeplab.run_directory import (
    CHECKPOINT_PREFIX,
    checkpoint_name,
    checkpoint_steps,
    complete_checkpoint_steps,
    newest_checkpoint,
)

__all__ = [
    "DAMAGED_DIR",
    "INDEX_FILE",
    "CheckpointError",
    "RunCheckpoints",
    "checkpoint_steps",
    "indexed_step",
    "remove_interrupted_saves",
    "write_index",
]

DAMAGED_DIR = "damaged"
INDEX_FILE = "checkpoint"


class CheckpointError(TfdeeplabError, RuntimeError):
    """Checkpoints that cannot be restored or written; one line saying what to do."""


def _files_of(directory: Path, step: int) -> list[Path]:
    prefix = f"{checkpoint_name(step)}."
    return sorted(path for path in directory.iterdir() if path.name.startswith(prefix))


def indexed_step(directory: Path) -> int | None:
    """The step the `checkpoint` index names as newest; None if it names none."""
    try:
        text = (directory / INDEX_FILE).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(
        rf'^model_checkpoint_path: "(?:.*/)?{CHECKPOINT_PREFIX}-(\d+)"$', text, re.M
    )
    return int(match[1]) if match else None


def write_index(directory: Path, steps: list[int]) -> None:
    """Rewrite the `checkpoint` index to list `steps` (oldest first, last newest)."""
    lines = [f'model_checkpoint_path: "{checkpoint_name(steps[-1])}"']
    lines += [f'all_model_checkpoint_paths: "{checkpoint_name(s)}"' for s in steps]
    for step in steps:
        stamp = (directory / f"{checkpoint_name(step)}.index").stat().st_mtime
        lines.append(f"all_model_checkpoint_timestamps: {stamp}")
    write_text(directory / INDEX_FILE, "\n".join(lines) + "\n")


def remove_interrupted_saves(directory: Path) -> list[str]:
    """Remove the `ckpt-<step>_temp` directories a save that died left; their names."""
    removed = []
    if directory.is_dir():
        for path in sorted(directory.glob(f"{CHECKPOINT_PREFIX}-*_temp*")):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    return removed


class RunCheckpoints:
    """The checkpoints of one run directory.

    Args:
        directory: str or Path. Where checkpoints go (`RunDirectory.checkpoints`);
            they are named `ckpt-<step>`.
        keep: int. Checkpoints kept, the newest.
        chief: bool. False on workers whose saves are thrown away; they neither
            repair the directory nor clean it.
        **objects: trackable objects to save, e.g. model, optimizer, step.

    Example:
        >>> checkpoints = RunCheckpoints(workdir / "checkpoints", 3, True,
        ...                              model=model, optimizer=optimizer, step=step)
        >>> checkpoints.restore_latest()  # the checkpoint restored, or None
        >>> checkpoints.save(int(step))
    """

    def __init__(self, directory: str | Path, keep: int, chief: bool, **objects):
        self.chief = chief
        self.directory = Path(directory)
        self.keep = keep
        self.checkpoint = tf.train.Checkpoint(**objects)
        # What restore_latest found: `ckpt-<step>: why` of each one it skipped, and
        # the interrupted saves the chief removed.
        self.skipped: list[str] = []
        self.removed = remove_interrupted_saves(self.directory) if chief else []
        self._reader = self._writer = None

    def _managers(self):
        """The reader (this directory) and writer (scratch on non-chief workers)."""
        if self._reader is None:
            self._reader = tf.train.CheckpointManager(
                self.checkpoint,
                str(self.directory),
                max_to_keep=self.keep,
                checkpoint_name=CHECKPOINT_PREFIX,
            )
            self._writer = self._reader
            if not self.chief:
                scratch = tempfile.mkdtemp(prefix="tfdeeplab-worker-checkpoints-")
                self._writer = tf.train.CheckpointManager(
                    self.checkpoint,
                    scratch,
                    max_to_keep=1,
                    checkpoint_name=CHECKPOINT_PREFIX,
                )
        return self._reader, self._writer

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint, or None (by the files:
        `tfdeeplab.run_directory.newest_checkpoint`)."""
        return newest_checkpoint(self.directory)

    def restore_latest(self) -> str | None:
        """Restore the newest checkpoint that restores; returns its path, or None.

        Damaged newer checkpoints are skipped (listed in `skipped`) and, on the
        chief, moved to `damaged/`; the index is rewritten to name the one restored.

        Raises:
            CheckpointError: checkpoints exist but none of them restores.
        """
        steps = checkpoint_steps(self.directory)
        for step in steps:
            prefix = self.directory / checkpoint_name(step)
            try:
                self.checkpoint.restore(str(prefix)).assert_existing_objects_matched()
            except READ_ERRORS as error:
                self.skipped.append(f"{prefix.name}: {why_unreadable(prefix, error)}")
                continue
            if self.chief and (self.skipped or indexed_step(self.directory) != step):
                self._set_aside_newer_than(step)
                write_index(
                    self.directory, sorted(complete_checkpoint_steps(self.directory))
                )
            self._managers()
            return str(prefix)
        if steps:
            raise CheckpointError(
                f"{self.directory}: none of its checkpoints restores "
                f"({'; '.join(self.skipped)}); move the directory away to start "
                "again from the beginning"
            )
        self._managers()
        return None

    def _set_aside_newer_than(self, step: int) -> None:
        damaged = self.directory / DAMAGED_DIR
        for newer in checkpoint_steps(self.directory):
            if newer <= step:
                continue
            damaged.mkdir(exist_ok=True)
            for path in _files_of(self.directory, newer):
                os.replace(path, damaged / path.name)

    def save(self, step: int) -> str | None:
        """Save as checkpoint `step`; returns the chief's path (None elsewhere).

        Raises:
            CheckpointError: the checkpoint cannot be written (disk full, no
                permission); the files of the interrupted save are removed and the
                newest complete checkpoint stays what it was.
        """
        _, writer = self._managers()
        try:
            path = writer.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            remove_interrupted_saves(Path(writer.directory))
            for partial in _files_of(Path(writer.directory), step):
                partial.unlink(missing_ok=True)
            raise CheckpointError(
                f"{writer.directory}: cannot write {checkpoint_name(step)} "
                f"({first_line(error)}); free space or choose another `workdir`, "
                f"the newest checkpoint is still {self.latest or 'none'}"
            ) from None
        if not self.chief:
            shutil.rmtree(writer.directory, ignore_errors=True)
            os.makedirs(writer.directory, exist_ok=True)
            return None
        return path

    def close(self) -> None:
        """Remove a non-chief worker's scratch directory."""
        if not self.chief and self._writer is not None:
            shutil.rmtree(self._writer.directory, ignore_errors=True)
