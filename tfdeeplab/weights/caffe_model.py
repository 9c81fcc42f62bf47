"""Reading `.caffemodel` files (Caffe's NetParameter protobuf) without Caffe.

Only what weights need, parsed from the protobuf wire format with a schema of our
own (caffe.proto field numbers):
- NetParameter: `layer` = 100 (LayerParameter), `layers` = 2 (the old
  V1LayerParameter);
- LayerParameter: name = 1, type = 2 (string), blobs = 7;
- V1LayerParameter: name = 4, type = 5 (enum), blobs = 6;
- BlobProto: num/channels/height/width = 1-4 (old shapes), data = 5 (float,
  packed or not), shape = 7 (BlobShape: dim = 1, int64, packed or not),
  double_data = 8.
Every other field is skipped by its wire type.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from tfdeeplab.weights.mxnet_params import WeightsFormatError

V1_TYPES = {4: "Convolution", 39: "Deconvolution", 14: "InnerProduct"}  # the rest: id


def _varint(data: bytes, offset: int, path: Path) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data):
            raise WeightsFormatError(
                f"{path}: not a .caffemodel, or a truncated one (in a varint)"
            )
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
        if shift > 70:
            raise WeightsFormatError(f"{path}: not a .caffemodel (bad varint)")


def _fields(data: bytes, path: Path):
    """(field number, wire type, value) of one message; value bytes or int."""
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset, path)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, offset = _varint(data, offset, path)
        elif wire == 1:
            value, offset = data[offset : offset + 8], offset + 8
        elif wire == 2:
            length, offset = _varint(data, offset, path)
            value, offset = data[offset : offset + length], offset + length
        elif wire == 5:
            value, offset = data[offset : offset + 4], offset + 4
        else:
            raise WeightsFormatError(
                f"{path}: not a .caffemodel (wire type {wire} at byte {offset})"
            )
        if offset > len(data):
            raise WeightsFormatError(f"{path}: not a .caffemodel, or a truncated one")
        yield number, wire, value


def _numbers(data: bytes, dtype: str, path: Path) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    if len(data) % size:
        raise WeightsFormatError(
            f"{path}: a blob's data is {len(data)} bytes, not a whole number of "
            f"{size}-byte values; not a .caffemodel, or a truncated one"
        )
    return np.frombuffer(data, dtype)


def _blob(data: bytes, path: Path) -> np.ndarray:
    old_shape, shape, values, doubles = [0, 0, 0, 0], [], [], []
    for number, wire, value in _fields(data, path):
        if 1 <= number <= 4 and wire == 0:
            old_shape[number - 1] = value
        elif number == 5:  # float data, packed (wire 2) or one per field (wire 5)
            values.append(_numbers(value, "<f4", path))
        elif number == 8:
            doubles.append(_numbers(value, "<f8", path))
        elif number == 7 and wire == 2:
            for dim_number, dim_wire, dim in _fields(value, path):
                if dim_number == 1 and dim_wire == 0:
                    shape.append(dim)
                elif dim_number == 1 and dim_wire == 2:  # packed dims
                    offset = 0
                    while offset < len(dim):
                        item, offset = _varint(dim, offset, path)
                        shape.append(item)
    flat = np.concatenate(values or doubles or [np.zeros(0, np.float32)])
    if not shape:
        shape = [d for d in old_shape if d] or [flat.size]
        if math.prod(shape) != flat.size:  # num/channels/height/width all given
            shape = old_shape
    if math.prod(shape) != flat.size:
        raise WeightsFormatError(
            f"{path}: a blob of shape {shape} holds {flat.size} values"
        )
    return flat.reshape(shape).astype(np.float32)


def read_caffemodel(path: str | Path) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Every layer with blobs of a `.caffemodel`: name -> (type, blobs).

    Args:
        path: str or Path.

    Returns:
        dict from layer name to (layer type, list of float32 arrays), in file order.

    Raises:
        WeightsFormatError: one line, for a file that is not a NetParameter or is
            truncated.

    Example:
        >>> layers = read_caffemodel("init.caffemodel")
        >>> layers["bn_conv1"][0], [b.shape for b in layers["bn_conv1"][1]]
        ('BatchNorm', [(64,), (64,), (1,)])
    """
    path = Path(path)
    data = path.read_bytes()
    layers = {}
    try:
        for number, wire, value in _fields(data, path):
            if wire != 2 or number not in (2, 100):
                continue
            name_field, type_field, blob_field = (4, 5, 6) if number == 2 else (1, 2, 7)
            name, kind, blobs = None, None, []
            for field, field_wire, item in _fields(value, path):
                if field == name_field and field_wire == 2:
                    name = item.decode("utf-8")
                elif field == type_field:
                    kind = (
                        V1_TYPES.get(item, str(item))
                        if field_wire == 0
                        else item.decode("utf-8")
                    )
                elif field == blob_field and field_wire == 2:
                    blobs.append(_blob(item, path))
            if name is not None and blobs:
                layers[name] = (kind or "", blobs)
    except (UnicodeDecodeError, struct.error) as error:
        raise WeightsFormatError(f"{path}: not a .caffemodel ({error})") from None
    if not layers:
        raise WeightsFormatError(f"{path}: not a .caffemodel (no layer with blobs)")
    return layers
