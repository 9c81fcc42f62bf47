"""The one loader of initial weights (`--init`, `train.init_weights`), from a local
file; nothing is ever downloaded.

Two formats:
- `.weights.h5`: a Keras weights file of the same architecture
  (`model.save_weights`), loaded whole.
- `.npz`: arrays keyed by Keras variable path (`variable.path`, e.g.
  `res2a_branch2a/kernel`); the arrays present are loaded, so a backbone-only file
  initialises the backbone and leaves the head at its random init. `python -m
  tfdeeplab.weights import` writes this format from published checkpoints.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np

from tfdeeplab.checkpoint_reading import load_keras_weights
from tfdeeplab.errors import TfdeeplabError, first_line


class InitialWeightsError(TfdeeplabError, ValueError):
    """Initial weights that cannot be used; the message names the file and key."""


class MissingWeightsFileError(TfdeeplabError, FileNotFoundError):
    """The initial weights file does not exist; nothing is downloaded."""


def require_weights_file(path: str | Path) -> Path:
    """`path` as a Path if the file exists; checked before any model is built.

    Raises:
        MissingWeightsFileError: one line naming the missing file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsFileError(
            f"{path}: initial weights file not found (train.init_weights / --init); "
            "give a local .npz or .weights.h5 file, nothing is downloaded"
        )
    return path


def load_initial_weights(model: keras.Model, path: str | Path) -> dict:
    """Load `path` into `model`.

    Args:
        model: keras.Model built by `build_model`.
        path: str or Path. A `.npz` (by variable path) or `.weights.h5` file; or
            a callable returning a model to take the variables of (a run's
            checkpoint, see `tfdeeplab.experiment.train_job`).

    Returns:
        dict with `loaded` and `left_at_init` (counts of model variables) and
        `left_out` (variables of another class count, kept at their init).

    Raises:
        FileNotFoundError: one line naming the missing file.
        InitialWeightsError: one line for an unknown format, a key naming no model
            variable, or a shape mismatch.

    Example:
        >>> load_initial_weights(model, "weights/resnet101_v1_imagenet.npz")
        {'loaded': 312, 'left_at_init': 4}
    """
    if callable(path):  # a run's model, restored from its checkpoint
        return load_model_weights(model, path(), path)
    path = require_weights_file(path)
    if path.name.endswith(".weights.h5"):
        try:
            load_keras_weights(model, path)
        except ValueError as error:
            raise InitialWeightsError(f"{path}: {first_line(error)}") from None
        except OSError as error:  # h5py: not an HDF5 file, truncated, ...
            raise InitialWeightsError(
                f"{path}: not a readable Keras weights file ({first_line(error)})"
            ) from None
        return {"loaded": len(model.weights), "left_at_init": 0, "left_out": []}
    if path.suffix != ".npz":
        raise InitialWeightsError(
            f"{path}: expected a .npz or .weights.h5 weights file"
        )
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise InitialWeightsError(
            f"{path}: not a weights archive (a .npz is a zip of arrays; this file "
            "is not one)"
        )
    try:
        return _load_npz(model, path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, InitialWeightsError):
            raise
        reason = first_line(error)
        if "pickle" in reason:  # never load it as one: pickles run code
            reason = "it holds Python objects, which are never loaded"
        raise InitialWeightsError(
            f"{path}: not a .npz of weight arrays ({reason})"
        ) from None


def _load_npz(model: keras.Model, path: Path) -> dict:
    with np.load(path) as arrays:
        return load_arrays(model, {key: arrays[key] for key in arrays.files}, path)


def _class_count(model: keras.Model) -> int:
    return int(model.outputs[0].shape[-1]) if model.outputs else -1


def _differs_only_by_classes(have, want, classes: int) -> bool:
    """True when the axes where the shapes differ are the class axes: every one of
    them is `classes` in the model's shape and one other count in the file's."""
    if len(have) != len(want):
        return False
    differing = [(a, b) for a, b in zip(have, want, strict=True) if a != b]
    return (
        bool(differing)
        and len({a for a, _ in differing}) == 1
        and all(b == classes for _, b in differing)
    )


def load_arrays(model: keras.Model, arrays: dict, source) -> dict:
    """Assign `arrays` (by Keras variable path) to `model`'s variables.

    A tensor whose shape differs only in its class axes (the classifier, the
    class-wise upsampling: weights of another class count) is left at its
    initialisation and named in the report; any other difference is an error.

    Args:
        model: keras.Model built by `build_model`.
        arrays: dict from variable path to array.
        source: what the arrays came from, for messages.

    Returns:
        dict with `loaded`, `left_at_init` (counts) and `left_out` (the paths kept
        at their initialisation because of another class count).

    Raises:
        InitialWeightsError: one line for a key naming no variable or a shape
            that does not fit.
    """
    variables = {variable.path: variable for variable in model.weights}
    classes = _class_count(model)
    left_out = []
    for key, value in arrays.items():
        if key not in variables:
            raise InitialWeightsError(
                f"{source}: {key}: names no variable of {model.name} "
                f"(e.g. {next(iter(variables))})"
            )
        have, want = tuple(value.shape), tuple(variables[key].shape)
        if have == want:
            continue
        if _differs_only_by_classes(have, want, classes):
            left_out.append(key)
            continue
        raise InitialWeightsError(f"{source}: {key}: expected shape {want}, got {have}")
    for key, value in arrays.items():
        if key not in left_out:
            variables[key].assign(np.asarray(value).astype(variables[key].dtype))
    loaded = len(arrays) - len(left_out)
    return {
        "loaded": loaded,
        "left_at_init": len(variables) - loaded,
        "left_out": left_out,
    }


def load_model_weights(model: keras.Model, source: keras.Model, name) -> dict:
    """`load_arrays` from another model's variables (a run of another class count).

    Example:
        >>> load_model_weights(model, voc_model, "runs/voc")["left_out"]
        ['score/kernel', 'score/bias', 'upsample/kernel']
    """
    return load_arrays(model, {v.path: v.numpy() for v in source.weights}, name)


def load_weights(model: keras.Model, path: str | Path) -> dict:
    """`load_initial_weights` by the name the weights package gives it.

    Example:
        >>> load_weights(model, "weights/resnet101_imagenet.npz")
        {'loaded': 520, 'left_at_init': 4}
    """
    return load_initial_weights(model, path)
