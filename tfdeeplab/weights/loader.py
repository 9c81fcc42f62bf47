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
        path: str or Path. A `.npz` (by variable path) or `.weights.h5` file.

    Returns:
        dict with `loaded` and `left_at_init` (counts of model variables).

    Raises:
        FileNotFoundError: one line naming the missing file.
        InitialWeightsError: one line for an unknown format, a key naming no model
            variable, or a shape mismatch.

    Example:
        >>> load_initial_weights(model, "weights/resnet101_v1_imagenet.npz")
        {'loaded': 312, 'left_at_init': 4}
    """
    path = require_weights_file(path)
    if path.name.endswith(".weights.h5"):
        try:
            model.load_weights(str(path))
        except ValueError as error:
            raise InitialWeightsError(f"{path}: {first_line(error)}") from None
        except OSError as error:  # h5py: not an HDF5 file, truncated, ...
            raise InitialWeightsError(
                f"{path}: not a readable Keras weights file ({first_line(error)})"
            ) from None
        return {"loaded": len(model.weights), "left_at_init": 0}
    if path.suffix != ".npz":
        raise InitialWeightsError(
            f"{path}: expected a .npz or .weights.h5 weights file"
        )
    try:
        return _load_npz(model, path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, InitialWeightsError):
            raise
        raise InitialWeightsError(
            f"{path}: not a .npz of weight arrays ({first_line(error)})"
        ) from None


def _load_npz(model: keras.Model, path: Path) -> dict:
    variables = {variable.path: variable for variable in model.weights}
    with np.load(path) as arrays:
        for key in arrays.files:
            if key not in variables:
                raise InitialWeightsError(
                    f"{path}: {key}: names no variable of {model.name} "
                    f"(e.g. {next(iter(variables))})"
                )
            value, variable = arrays[key], variables[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise InitialWeightsError(
                    f"{path}: {key}: expected shape {tuple(variable.shape)}, "
                    f"got {tuple(value.shape)}"
                )
        for key in arrays.files:
            variables[key].assign(arrays[key].astype(variables[key].dtype))
        loaded = len(arrays.files)
    return {"loaded": loaded, "left_at_init": len(variables) - loaded}


def load_weights(model: keras.Model, path: str | Path) -> dict:
    """`load_initial_weights` by the name the weights package gives it.

    Example:
        >>> load_weights(model, "weights/resnet101_imagenet.npz")
        {'loaded': 520, 'left_at_init': 4}
    """
    return load_initial_weights(model, path)
