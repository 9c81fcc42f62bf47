"""The deformable convolution benchmark compares the three implementations."""

import json

import pytest

from tfdeeplab.bench.__main__ import main


def test_deform_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "deform.json"
    arguments = [
        "deform",
        "--sizes",
        "5",
        "--repeats",
        "1",
        "--no-memory",
        "--json",
        str(out),
    ]
    assert main(arguments) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(row["groups"], row["mask"]) for row in rows] == [
        (1, "no"),
        (1, "yes"),
        (4, "no"),
        (4, "yes"),
    ]
    for row in rows:
        assert row["size"] == "5x5"
        assert row["custom_vs_conv2d"] == pytest.approx(
            row["custom_op_ms"] / row["conv2d_ms"]
        )
        assert row["reference_vs_custom"] == pytest.approx(
            row["reference_ms"] / row["custom_op_ms"]
        )
    assert "custom_vs_conv2d" in capsys.readouterr().out


def test_peak_memory_is_measured_in_a_fresh_process():
    from tfdeeplab.bench.deform import peak_memory

    # 2 x 41 x 41 x 512 float32 inputs alone are 6.9 MB; the step holds more.
    assert peak_memory("custom_op", 41, 1, False) > 6.9e6
