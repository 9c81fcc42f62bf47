"""Reading MXNet `.params` files (the NDArray list format) without MXNet.

Layout (dmlc serialisation, little-endian; MXNet `src/ndarray/ndarray.cc`):

    uint64 0x112 (list magic), uint64 reserved
    uint64 count, then `count` NDArrays
    uint64 count, then `count` names: uint64 length + UTF-8 bytes

An NDArray starts with a uint32 that is either a magic or, in the oldest files, the
number of dimensions:
- 0xF993FAC9 (V2) or 0xF993FACA (V3): int32 storage type (0: dense; sparse arrays
  are not weights and are refused), then the shape: uint32 ndim, int64 dims;
- 0xF993FAC8 (V1): the shape as above, no storage type;
- anything else (legacy): that uint32 is ndim, then uint32 dims.
Then (unless ndim is 0, an empty array) int32 device type, int32 device id, int32
dtype flag (0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8, 6 int64) and
the data, C order. Names carry MXNet's `arg:` / `aux:` prefixes
(`arg:res2a_branch1_weight`, `aux:bn_conv1_moving_mean`).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from tfdeeplab.errors import TfdeeplabError

LIST_MAGIC = 0x112
V1_MAGIC, V2_MAGIC, V3_MAGIC = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
DTYPES = {
    0: np.float32,
    1: np.float64,
    2: np.float16,
    3: np.uint8,
    4: np.int32,
    5: np.int8,
    6: np.int64,
}


class WeightsFormatError(TfdeeplabError, ValueError):
    """A weights file that is not what its format says; the message names it."""


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise WeightsFormatError(
                f"{self.path}: truncated MXNet .params file (needed {size} bytes at "
                f"offset {self.offset} of {len(self.data)})"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str):
        values = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return values if len(values) > 1 else values[0]


def _read_array(reader: _Reader) -> np.ndarray:
    first = reader.unpack("I")
    if first in (V2_MAGIC, V3_MAGIC):
        storage = reader.unpack("i")
        if storage != 0:
            raise WeightsFormatError(
                f"{reader.path}: sparse NDArray (storage type {storage}) is not a "
                "weight"
            )
        ndim = reader.unpack("i")
        dims = reader.unpack(f"{ndim}q") if ndim > 0 else ()
    elif first == V1_MAGIC:
        ndim = reader.unpack("I")
        dims = reader.unpack(f"{ndim}q") if ndim else ()
    else:  # legacy: the first word is the number of dimensions
        ndim = first
        if ndim > 32:
            raise WeightsFormatError(
                f"{reader.path}: not an MXNet NDArray (first word {first:#x})"
            )
        dims = reader.unpack(f"{ndim}I") if ndim else ()
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if ndim <= 0:
        return np.zeros((0,), np.float32)
    _device_type, _device_id, flag = reader.unpack("iii")
    if flag not in DTYPES:
        raise WeightsFormatError(f"{reader.path}: unknown MXNet dtype flag {flag}")
    dtype = np.dtype(DTYPES[flag]).newbyteorder("<")
    if any(dim < 0 for dim in dims):
        raise WeightsFormatError(f"{reader.path}: an NDArray of shape {dims}")
    count = math.prod(dims)
    data = reader.take(count * dtype.itemsize)
    return np.frombuffer(data, dtype).reshape(dims).astype(DTYPES[flag])


def read_mxnet_params(path: str | Path) -> dict[str, np.ndarray]:
    """Every named array of an MXNet `.params` file.

    Args:
        path: str or Path.

    Returns:
        dict from the file's names (with `arg:`/`aux:` prefixes) to arrays.

    Raises:
        WeightsFormatError: one line, for a file that is not an NDArray list, is
            truncated or holds unnamed or sparse arrays.

    Example:
        >>> params = read_mxnet_params("resnet_v1_101-0000.params")
        >>> params["arg:conv1_weight"].shape
        (64, 3, 7, 7)
    """
    path = Path(path)
    reader = _Reader(path.read_bytes(), path)
    if len(reader.data) < 16 or reader.unpack("Q") != LIST_MAGIC:
        raise WeightsFormatError(
            f"{path}: not an MXNet .params file (no NDArray list magic 0x112)"
        )
    reader.unpack("Q")  # reserved
    arrays = [_read_array(reader) for _ in range(reader.unpack("Q"))]
    names = []
    for index in range(reader.unpack("Q")):
        raw = reader.take(reader.unpack("Q"))
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise WeightsFormatError(
                f"{path}: name {index} is not UTF-8 ({raw[:20]!r}); not an MXNet "
                ".params file, or a damaged one"
            ) from None
    if len(names) != len(arrays):
        raise WeightsFormatError(f"{path}: {len(arrays)} arrays but {len(names)} names")
    if not arrays:
        raise WeightsFormatError(f"{path}: an MXNet .params file with no arrays")
    return dict(zip(names, arrays, strict=True))
