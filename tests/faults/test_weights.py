"""Weight import under faults: an existing .npz, files of no format.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import one_error_line
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.weights.__main__ import main as weights_cli


def test_weights_import_keeps_an_existing_npz_unless_forced(tmp_path, capsys):
    out = tmp_path / "w.npz"
    out.write_bytes(b"keep me")
    source = tmp_path / "r.params"
    source.write_bytes(b"irrelevant")
    code = weights_cli(
        [
            "import",
            "--format",
            "mxnet",
            "--source",
            str(source),
            "--recipe",
            str(RECIPE),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert one_error_line(capsys) == (
        f"error: {out} exists; pass --force to replace it or choose another --out"
    )
    assert out.read_bytes() == b"keep me"


def _h5(path: Path, layers: list[str], weights: dict) -> Path:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        for layer, names in weights.items():
            handle.create_group(layer).attrs["weight_names"] = [
                n.encode() for n in names
            ]
    return path


def _mxnet(path: Path, arrays: list, names: list[bytes]) -> Path:
    data = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for array in arrays:
        data += struct.pack("<IiI", 0xF993FAC9, 0, array.ndim)
        data += struct.pack(f"<{array.ndim}q", *array.shape)
        data += struct.pack("<iii", 1, 0, 0) + array.astype("<f4").tobytes()
    data += struct.pack("<Q", len(names))
    for name in names:
        data += struct.pack("<Q", len(name)) + name
    path.write_bytes(data)
    return path


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _caffemodel(path: Path, blob: bytes) -> Path:
    layer = _field(1, b"conv1") + _field(2, b"Convolution") + _field(7, blob)
    path.write_bytes(_field(100, layer))
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("mxnet without arrays", "an MXNet .params file with no arrays"),
        ("mxnet name not utf-8", "name 0 is not UTF-8"),
        ("caffe blob of odd length", "a blob's data is 6 bytes, not a whole number"),
        ("caffe shape overflowing", "a blob of shape [4294967296, 4294967296] holds"),
        ("keras missing group", "layer_names names 'conv1_conv', which the file"),
        ("keras missing dataset", "weight_names names 'conv1_conv/kernel:0', which"),
        ("keras without layers", "its layer_names lists no layers"),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "import"])
def test_bad_weight_files_are_one_line_naming_the_file(
    tmp_path, case, message, command, capsys
):
    if case.startswith("mxnet"):
        path, fmt = tmp_path / "w.params", "mxnet"
        if case.endswith("arrays"):
            _mxnet(path, [], [])
        else:
            _mxnet(path, [np.zeros(2)], [b"\xff\xfe"])
    elif case.startswith("caffe"):
        path, fmt = tmp_path / "w.caffemodel", "caffe"
        if "odd" in case:
            _caffemodel(path, _field(5, bytes(6)))
        else:
            shape = _varint(1 << 3) + _varint(1 << 32)
            _caffemodel(path, _field(7, shape + shape) + _field(5, b""))
    else:
        path, fmt = tmp_path / "w.h5", "keras"
        if case.endswith("group"):
            _h5(path, ["conv1_conv"], {})
        elif case.endswith("dataset"):
            _h5(path, ["conv1_conv"], {"conv1_conv": ["conv1_conv/kernel:0"]})
        else:
            _h5(path, [], {})
    out = tmp_path / "out.npz"
    if command == "inspect":
        code = weights_cli(["inspect", str(path)])
    else:
        code = weights_cli(
            [
                "import",
                "--format",
                fmt,
                "--source",
                str(path),
                "--recipe",
                str(RECIPE),
                "--out",
                str(out),
            ]
        )
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert not out.exists()
