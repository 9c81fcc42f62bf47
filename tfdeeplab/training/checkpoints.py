"""Run checkpoints: model, optimizer and step, saved so a crash never loses one.

`tf.train.CheckpointManager` writes a checkpoint's files first and only then
rewrites the small `checkpoint` index file (atomically) and deletes the oldest
checkpoint beyond `keep`. A process killed mid-save therefore leaves the index
naming the previous, complete checkpoint.

Under MultiWorkerMirroredStrategy every worker must take part in a save; workers
other than the chief write to a temporary directory and delete it afterwards (the
pattern TensorFlow documents), so only the chief's checkpoints remain.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf

from tfdeeplab.run_directory import CHECKPOINT_PREFIX


class RunCheckpoints:
    """The checkpoints of one run directory.

    Args:
        directory: str or Path. Where checkpoints go (`RunDirectory.checkpoints`);
            they are named `ckpt-<step>`.
        keep: int. Checkpoints kept, the newest.
        chief: bool. False on workers whose saves are thrown away.
        **objects: trackable objects to save, e.g. model, optimizer, step.

    Example:
        >>> checkpoints = RunCheckpoints(workdir / "checkpoints", 3, True,
        ...                              model=model, optimizer=optimizer, step=step)
        >>> checkpoints.restore_latest()  # the step restored, or None
        >>> checkpoints.save(int(step))
    """

    def __init__(self, directory: str, keep: int, chief: bool, **objects):
        self.chief = chief
        self.directory = str(directory)
        self.checkpoint = tf.train.Checkpoint(**objects)
        # Non-chief workers read the chief's checkpoints but write to scratch.
        self._reader = tf.train.CheckpointManager(
            self.checkpoint,
            self.directory,
            max_to_keep=keep,
            checkpoint_name=CHECKPOINT_PREFIX,
        )
        self._writer = self._reader
        if not chief:
            scratch = tempfile.mkdtemp(prefix="tfdeeplab-worker-checkpoints-")
            self._writer = tf.train.CheckpointManager(
                self.checkpoint,
                scratch,
                max_to_keep=1,
                checkpoint_name=CHECKPOINT_PREFIX,
            )

    @property
    def latest(self) -> str | None:
        """Path prefix of the newest complete checkpoint, or None."""
        return self._reader.latest_checkpoint

    def restore_latest(self) -> str | None:
        """Restore the newest checkpoint if there is one; returns its path or None."""
        latest = self.latest
        if latest is None:
            return None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def save(self, step: int) -> str | None:
        """Save as checkpoint `step`; returns the chief's path (None elsewhere)."""
        path = self._writer.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self._writer.directory, ignore_errors=True)
            os.makedirs(self._writer.directory, exist_ok=True)
            return None
        return path

    def close(self) -> None:
        """Remove a non-chief worker's scratch directory."""
        if not self.chief:
            shutil.rmtree(self._writer.directory, ignore_errors=True)
