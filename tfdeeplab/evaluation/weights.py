"""Finding and loading the weights a model is evaluated (or exported) with.

A training checkpoint (`ckpt-<step>` prefix), a run directory (its newest checkpoint,
found through `tfdeeplab.run_directory`) or a Keras weights file (`.weights.h5`,
`.keras`). Every failure is one line naming the path, and a model whose architecture
differs from the one saved names the first variable that does not fit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import tensorflow as tf

from tfdeeplab.checkpoint_reading import (
    READ_ERRORS,
    load_keras_weights,
    why_unreadable,
)
from tfdeeplab.errors import TfdeeplabError, first_line
from tfdeeplab.run_directory import (
    RunDirectory,
    checkpoint_name,
    complete_checkpoint_steps,
    newest_checkpoint,
)


class WeightsError(TfdeeplabError, ValueError):
    """Weights that cannot be found or do not fit the model; one line."""


def resolve_checkpoint(path: str | Path) -> str:
    """The checkpoint prefix `path` means: itself, or a directory's newest checkpoint.

    Args:
        path: str or Path. A checkpoint prefix (`runs/voc/checkpoints/ckpt-2000`), a
            checkpoint directory, or a run directory.

    Returns:
        str, a checkpoint prefix whose `.index` file exists.

    Raises:
        WeightsError: nothing there to restore.

    Example:
        >>> resolve_checkpoint("runs/voc")
        'runs/voc/checkpoints/ckpt-33856'
    """
    path = Path(path).expanduser()
    if path.is_dir():
        # A run directory or a checkpoints folder, by the files (a lost `checkpoint`
        # index hides nothing); other tools' prefixes by their index.
        newest = (
            RunDirectory(path).latest_checkpoint()
            or newest_checkpoint(path)
            or tf.train.latest_checkpoint(str(path))
        )
        if newest is None:
            raise WeightsError(f"{path}: no checkpoint in this directory")
        return newest
    if not Path(f"{path}.index").is_file():
        raise WeightsError(
            f"{path}: not a checkpoint (no {path.name}.index); give a checkpoint "
            "prefix such as runs/voc/checkpoints/ckpt-2000, or a run directory"
        )
    return str(path)


def checkpoint_step(prefix: str) -> int | None:
    """The training step a trainer's checkpoint was written at, or None."""
    try:
        return int(
            tf.train.load_checkpoint(prefix).get_tensor(
                "step/.ATTRIBUTES/VARIABLE_VALUE"
            )
        )
    except READ_ERRORS:
        return None


def _restore(model: keras.Model, prefix: str) -> None:
    """Restore the model's variables from a checkpoint, or one line saying why not."""
    checkpoint = tf.train.Checkpoint(model=model)
    try:
        status = checkpoint.restore(prefix)
        status.expect_partial()  # the optimizer and step are not needed here
        status.assert_existing_objects_matched()
    except READ_ERRORS as error:
        reason = why_unreadable(prefix, error)
        damaged = not isinstance(error, (ValueError, AssertionError))
        older = [
            step
            for step in complete_checkpoint_steps(Path(prefix).parent)
            if checkpoint_name(step) != Path(prefix).name
        ]
        if damaged and older:
            reason += (
                f"; an older one: {Path(prefix).parent / checkpoint_name(older[0])}"
            )
        raise WeightsError(f"{prefix}: {reason}") from None


def require_one_source(checkpoint, weights) -> None:
    """Refuse both or neither of a checkpoint and a weights file.

    Raises:
        WeightsError: one line naming the two parameters.
    """
    if (checkpoint is None) == (weights is None):
        raise WeightsError(
            "give one of checkpoint (a checkpoint prefix or run directory) and "
            "weights (a weights file)"
        )


def load_weights(
    model: keras.Model, *, checkpoint: str | Path | None = None, weights=None
) -> str:
    """Load a checkpoint or a weights file into `model`; returns what was loaded.

    Args:
        model: keras.Model from `build_model`, of the recipe the weights were
            trained with.
        checkpoint: str, Path or None. See `resolve_checkpoint`.
        weights: str, Path or None. A `.weights.h5` or `.keras` file.

    Returns:
        str, the checkpoint prefix or weights file loaded.

    Raises:
        WeightsError: missing, unreadable, or not fitting the model (naming the
            first variable that does not fit).

    Example:
        >>> load_weights(model, checkpoint="runs/voc")
    """
    require_one_source(checkpoint, weights)
    if checkpoint is not None:
        prefix = resolve_checkpoint(checkpoint)
        _restore(model, prefix)
        return prefix
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if not path.name.endswith((".weights.h5", ".keras")):
        raise WeightsError(f"{path}: expected a .weights.h5 or .keras file")
    try:
        load_keras_weights(model, path)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
        kind = "Keras archive" if path.suffix == ".keras" else "Keras weights file"
        raise WeightsError(
            f"{path}: not a readable {kind} of this model ({first_line(error)})"
        ) from None
    return str(path)
