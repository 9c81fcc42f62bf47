"""The published weight formats, one registry: each format's name, file
extensions, reader, the namer mapping its tensors to ours, and the BatchNorm
epsilon its networks were trained with.

Pure NumPy: the `python -m tfdeeplab.weights` command reads the names for its
`--format` choices before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tfdeeplab.weights import naming
from tfdeeplab.weights.caffe_model import read_caffemodel
from tfdeeplab.weights.keras_h5 import read_keras_h5
from tfdeeplab.weights.mxnet_params import WeightsFormatError, read_mxnet_params
from tfdeeplab.weights.torch_state import read_torch_state


@dataclasses.dataclass(frozen=True)
class WeightFormat:
    """One published format.

    Args:
        name: str. What `--format` says (`mxnet`).
        extensions: tuple of str. File suffixes of the format (`.params`).
        read: function Path -> {source name: value}.
        rename: function (source name, value, units) -> list of `naming.Tensor`
            or None (a tensor with no counterpart).
        shape: function value -> its shape, for the report.
        batch_norm_epsilon: float. The epsilon the source's BatchNorm used.
    """

    name: str
    extensions: tuple[str, ...]
    read: Callable[[Path], dict]
    rename: Callable
    shape: Callable = lambda value: value.shape
    batch_norm_epsilon: float = 1e-5

    def tensors(self, path: Path, units) -> list[tuple[str, tuple, list | None]]:
        """(source name, source shape, Tensors or None) of every tensor of a file.

        Raises:
            WeightsFormatError: the file is not of this format (one line).
        """
        return [
            (name, self.shape(value), self.rename(name, value, units))
            for name, value in self.read(path).items()
        ]


FORMATS = {
    weight_format.name: weight_format
    for weight_format in (
        WeightFormat(
            "keras",
            (".h5",),
            read_keras_h5,
            naming.from_keras,
            batch_norm_epsilon=1.001e-5,
        ),
        WeightFormat(
            "mxnet",
            (".params",),
            read_mxnet_params,
            lambda name, value, units: naming.from_mxnet(name, value),
        ),
        WeightFormat(
            "caffe",
            (".caffemodel",),
            read_caffemodel,
            lambda name, value, units: naming.from_caffe(name, *value),
            shape=lambda value: tuple(blob.shape for blob in value[1]),
        ),
        WeightFormat("torch", (".pth", ".pt"), read_torch_state, naming.from_torch),
    )
}


def weight_format(name: str) -> WeightFormat:
    """The format called `name`.

    Raises:
        WeightsFormatError: no such format (one line listing them).

    Example:
        >>> weight_format("mxnet").extensions
        ('.params',)
    """
    try:
        return FORMATS[name]
    except KeyError:
        raise WeightsFormatError(
            f"unknown format {name!r} (expected one of {', '.join(FORMATS)})"
        ) from None


def format_of_file(path: Path) -> WeightFormat | None:
    """The format a file's extension says, or None.

    Example:
        >>> format_of_file(Path("resnet_v1_101-0000.params")).name
        'mxnet'
    """
    for candidate in FORMATS.values():
        if path.suffix in candidate.extensions:
            return candidate
    return None
