"""The export benchmark times the SavedModel against the Keras model."""

import json

import pytest

from tfdeeplab.bench.__main__ import main

SMALL = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.fc6_channels=16",
    "eval.scales=[1.0]",
]


@pytest.mark.slow
def test_export_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "export.json"
    arguments = [
        "export",
        "--size",
        "90x70",
        "--images",
        "2",
        "--repeats",
        "2",
        "--json",
        str(out),
        "--file-size",
        "65x49",
        "--set",
        *SMALL,
    ]
    assert main(arguments) == 0
    row, *files = json.loads(out.read_text())["rows"]
    assert [f["format"].split(" in ")[0] for f in files] == [
        "tflite",
        "tflite-float16",
        "tflite-int8",
        "onnx",
    ]
    for entry in files:
        assert entry["image"] == "65x49" and entry["file_ms"] > 0
        assert entry["ratio"] == pytest.approx(
            entry["file_ms"] / entry["saved_model_ms"]
        )
    sizes = {f["format"].split(" in ")[0]: f["size_mb"] for f in files}
    assert sizes["tflite-int8"] < sizes["tflite-float16"] < sizes["tflite"]
    assert row["image"] == "90x70" and "scales [1.0]" in row["protocol"]
    assert row["keras_ms"] > 0 and row["saved_model_ms"] > 0
    assert row["ratio"] == pytest.approx(row["saved_model_ms"] / row["keras_ms"])
    assert "saved_model_ms" in capsys.readouterr().out


def test_a_bad_size_is_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--size", "500by375"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected WIDTHxHEIGHT" in err[0]
