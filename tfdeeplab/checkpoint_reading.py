"""What goes wrong reading a TensorFlow checkpoint, said in one line.

A checkpoint whose files are damaged fails in several ways as it restores: an op
error (a flipped byte, a missing file), a value or assertion error (another
model's variables) and, for a `.data` file cut short (a full disk, a killed copy),
an `IndexError: Read less bytes than requested` from TensorFlow's reader. Training
skips such a checkpoint for an older one; evaluation, export and prediction name
its files. Both catch `READ_ERRORS` and say `why_unreadable`.

A Keras weights file of another model warns once per layer it skips (dozens of
lines) before its error; `load_keras_weights` keeps those to the one error line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import tensorflow as tf

from tfdeeplab.errors import first_line

READ_ERRORS = (tf.errors.OpError, AssertionError, ValueError, IndexError)


def why_unreadable(prefix: str | Path, error: BaseException) -> str:
    """One line on why checkpoint `prefix` did not restore, naming its files.

    Example:
        >>> why_unreadable("runs/voc/checkpoints/ckpt-6", IndexError("Read less"))
        'ckpt-6.data-00000-of-00001 is cut short (1204 bytes): ...'
    """
    prefix = Path(prefix)
    if isinstance(error, IndexError):
        data = sorted(prefix.parent.glob(f"{prefix.name}.data-*"))
        sizes = (
            ", ".join(
                f"{path.name} is cut short ({path.stat().st_size} bytes)"
                for path in data
            )
            or f"{prefix.name}.data-*"
        )
        return f"{sizes}: {first_line(error)}"
    return f"{type(error).__name__}: {first_line(error)}"


def load_keras_weights(model: keras.Model, path: str | Path) -> None:
    """`model.load_weights(path)` without Keras' warning per skipped layer: a
    file of another model fails with one error (ValueError), which the caller
    says in one line.

    Example:
        >>> load_keras_weights(model, "runs/voc/model.weights.h5")
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="keras")
        model.load_weights(str(path))
