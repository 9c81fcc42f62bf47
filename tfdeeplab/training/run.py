"""A run directory's training state: restore or initialise, step, checkpoint, validate.

`TrainingRun` holds the pieces that change as a run goes (weights, optimizer state,
step) and the rules that keep a run safe: a non-finite loss or overflowed weights stop
it without writing a checkpoint, so the newest checkpoint is always the last good
one; a resumed run restores weights, optimizer and step together.
"""

from __future__ import annotations

import hashlib
import math

import keras
import numpy as np
import tensorflow as tf

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.run_directory import RunDirectory
from tfdeeplab.training.builder import TrainingState
from tfdeeplab.training.checkpoints import DAMAGED_DIR, RunCheckpoints
from tfdeeplab.training.summaries import TensorBoardSummaries
from tfdeeplab.training.validation import validate
from tfdeeplab.weights.loader import load_initial_weights


class TrainingDiverged(TfdeeplabError, RuntimeError):
    """The loss or the weights became NaN or Inf; the message names the step and the
    newest (good) checkpoint. Exit code 3."""

    exit_code = 3


def weights_fingerprint(model: keras.Model) -> str:
    """A short hash of every weight's bytes, to compare workers or runs."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def weights_finite(model: keras.Model) -> bool:
    """True when no trainable weight holds a NaN or Inf."""
    return bool(
        tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(v)) for v in model.trainable_variables]
        )
    )


class TrainingRun:
    """The training state of one run directory and what may be done with it.

    Args:
        state: TrainingState. Model, optimizer, step counter and train step.
        directory: RunDirectory. Where checkpoints go.
        chief: bool. False on workers whose checkpoints are thrown away and who
            neither validate nor write summaries.
        keep_checkpoints: int. Checkpoints kept, the newest.
        summaries: TensorBoardSummaries.
        validation_data: tf.data.Dataset or None. Whole validation images
            (`eval_dataset`); None skips validation.
        num_classes: int. Classes of the confusion matrix.
        palette: uint8 [256, 3]. Colours of the validation panels.
        validation_images: int. Images each validation uses; 0 for all.
        image_panels: int. Validation images drawn as panels.

    Example:
        >>> run = TrainingRun(state, RunDirectory(workdir), chief=True,
        ...     keep_checkpoints=3, summaries=summaries, validation_data=None,
        ...     num_classes=21, palette=voc_palette())
        >>> run.restore_or_initialise("")
        >>> loss = run.train_step(batch, run.step + 1)
        >>> run.save(run.step)
    """

    def __init__(
        self,
        state: TrainingState,
        directory: RunDirectory,
        *,
        chief: bool,
        keep_checkpoints: int,
        summaries: TensorBoardSummaries,
        validation_data: tf.data.Dataset | None,
        num_classes: int,
        palette: np.ndarray,
        validation_images: int = 0,
        image_panels: int = 0,
    ):
        self.state = state
        self.chief = chief
        self.summaries = summaries
        self.validation_data = validation_data
        self.num_classes = num_classes
        self.palette = palette
        self.validation_images = validation_images
        self.image_panels = image_panels
        self.checkpoints = RunCheckpoints(
            directory.checkpoints,
            keep_checkpoints,
            chief,
            model=state.model,
            optimizer=state.optimizer,
            step=state.step,
        )

    @property
    def step(self) -> int:
        """Steps completed."""
        return int(self.state.step.numpy())

    @property
    def latest_checkpoint(self) -> str:
        """The newest complete checkpoint, or `none`."""
        return self.checkpoints.latest or "none"

    def restore_or_initialise(self, init_weights: str = "") -> list[str]:
        """Restore the newest checkpoint that restores, else load `init_weights`.

        Args:
            init_weights: str. Initial weights file, used only without a checkpoint.

        Returns:
            list of str, lines saying what happened: interrupted saves removed,
            damaged checkpoints skipped (kept in `checkpoints/damaged/`), where the
            run resumed or what initialised it (none for the model's own
            initialisation).

        Raises:
            CheckpointError: checkpoints exist but none restores.
            FileNotFoundError, InitialWeightsError: for unusable initial weights.
        """
        checkpoints = self.checkpoints
        restored = checkpoints.restore_latest()
        lines = [
            f"removed {name}, left by a save that was interrupted"
            for name in checkpoints.removed
        ]
        lines += [
            f"skipped {skipped}; its files are kept in "
            f"{checkpoints.directory / DAMAGED_DIR}"
            for skipped in checkpoints.skipped
        ]
        if restored:
            lines.append(f"resumed from {restored} at step {self.step}")
        elif init_weights:
            report = load_initial_weights(self.state.model, init_weights)
            line = (
                f"initial weights from {init_weights}: {report['loaded']} variables "
                f"loaded, {report['left_at_init']} left at their initialisation"
            )
            if report.get("left_out"):
                line += (
                    " (another class count, so these start from their initialiser: "
                    f"{', '.join(report['left_out'])})"
                )
            lines.append(line)
        return lines

    def train_step(self, batch, step_number: int) -> float:
        """Train on one distributed batch as step `step_number`; returns its loss.

        Raises:
            TrainingDiverged: the loss is NaN or Inf (the step counter stays).
        """
        loss = float(self.state.train_step(batch))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss} at step {step_number}; stopped without saving, "
                f"the newest checkpoint is still {self.latest_checkpoint}"
            )
        self.state.step.assign(step_number)
        return loss

    def save(self, at_step: int) -> None:
        """Checkpoint the run as `ckpt-<at_step>`.

        Raises:
            TrainingDiverged: the weights hold NaN or Inf (a finite loss can still
                leave overflowed weights); nothing is saved.
        """
        if not weights_finite(self.state.model):
            raise TrainingDiverged(
                f"weights became NaN or Inf at step {at_step}; stopped without "
                f"saving, the newest checkpoint is still {self.latest_checkpoint}"
            )
        self.checkpoints.save(at_step)

    def validate(self, at_step: int) -> dict | None:
        """Whole-image validation, written to TensorBoard at `at_step`.

        Returns:
            The metrics (`miou`, accuracies, `class_iou`) plus `images`, or None on
            workers other than the chief and without validation data.
        """
        if self.validation_data is None or not self.chief:
            return None
        result = validate(
            self.state.model,
            self.validation_data,
            self.num_classes,
            self.palette,
            max_images=self.validation_images,
            panels=self.image_panels,
        )
        self.summaries.validation(at_step, result)
        return {**result.metrics, "images": result.images}

    def close(self) -> None:
        """Flush the summaries and remove a non-chief worker's scratch checkpoints."""
        self.summaries.flush()
        self.checkpoints.close()
