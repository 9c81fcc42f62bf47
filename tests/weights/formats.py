"""Writers of each weights format, following the formats' documented layouts.

Written here, independently of the readers under test: MXNet's NDArray list
(`src/ndarray/ndarray.cc`), Caffe's NetParameter protobuf (`caffe.proto`) and the
legacy Keras HDF5 layout of the Keras Applications files.
"""

import struct

import numpy as np

MX_FLAGS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}


def write_mxnet_params(path, arrays: dict, legacy_names=()):
    """An NDArray list; arrays named in `legacy_names` use the oldest layout."""
    out = [struct.pack("<QQQ", 0x112, 0, len(arrays))]
    for name, array in arrays.items():
        array = np.ascontiguousarray(array, np.float32)
        if name in legacy_names:  # ndim as the first word, uint32 dims
            out.append(struct.pack(f"<I{array.ndim}I", array.ndim, *array.shape))
        else:  # V2: magic, dense storage, uint32 ndim, int64 dims
            out.append(
                struct.pack(
                    f"<IiI{array.ndim}q", 0xF993FAC9, 0, array.ndim, *array.shape
                )
            )
        out.append(struct.pack("<iii", 1, 0, MX_FLAGS[array.dtype]))  # cpu(0), f32
        out.append(array.astype("<f4").tobytes())
    out.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        encoded = name.encode()
        out.append(struct.pack("<Q", len(encoded)) + encoded)
    path.write_bytes(b"".join(out))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def _blob(array: np.ndarray, packed: bool) -> bytes:
    array = np.asarray(array, "<f4")
    dims = b"".join(_varint(d) for d in array.shape)
    shape = _field(1, 2, dims)  # BlobShape.dim, packed
    if packed:
        data = _field(5, 2, array.tobytes())
    else:  # one fixed32 field per value
        data = b"".join(_field(5, 5, struct.pack("<f", v)) for v in array.ravel())
    return _field(7, 2, shape) + data


def write_caffemodel(path, layers, v1_names=()):
    """layers: (name, type, blobs); names in `v1_names` go in the old `layers` field
    (V1LayerParameter: name 4, type enum 5, blobs 6), the rest in `layer` (100)."""
    out = [_field(1, 2, b"test-net")]
    for index, (name, kind, blobs) in enumerate(layers):
        packed = index % 2 == 0
        if name in v1_names:
            body = _field(4, 2, name.encode()) + _field(5, 0, _varint(4))  # CONV
            body += b"".join(_field(6, 2, _blob(b, packed)) for b in blobs)
            out.append(_field(2, 2, body))
        else:
            body = _field(1, 2, name.encode()) + _field(2, 2, kind.encode())
            body += _field(3, 2, b"bottom")  # a field the reader skips
            body += b"".join(_field(7, 2, _blob(b, packed)) for b in blobs)
            out.append(_field(100, 2, body))
    path.write_bytes(b"".join(out))


def write_keras_h5(path, layers: dict):
    """layers: layer name -> [(weight name, array)], in the legacy Keras layout."""
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        handle.attrs["backend"] = b"tensorflow"
        for layer, weights in layers.items():
            group = handle.create_group(layer)
            names = [f"{layer}/{weight}:0" for weight, _ in weights]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name, (_, array) in zip(names, weights, strict=True):
                group.create_dataset(name, data=array)
