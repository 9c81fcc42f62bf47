"""The evaluation benchmark reports both protocols with consistent figures."""

import json

import pytest

from tfdeeplab.bench.__main__ import main

SMALL = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.fc6_channels=16",
]


@pytest.mark.slow
def test_eval_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "eval.json"
    arguments = [
        "eval",
        "--images",
        "2",
        "--cityscapes-images",
        "2",
        "--repeats",
        "1",
        "--crf-workers",
        "1",
        "--json",
        str(out),
        "--memory-size",
        "640x480",
        "--set",
        *SMALL,
    ]
    assert main(arguments) == 0
    figures = json.loads(out.read_text())
    voc, voc_crf, voc_report, cityscapes, memory = figures["rows"]
    assert memory["image"] == "640x480" and memory["peak_gb"] > 0
    # The sum over scales alone is 4 bytes a class: 84 for VOC's 21 classes.
    assert 84 < memory["bytes_per_pixel"] < 2000
    assert memory["gb_at_12mp"] == pytest.approx(
        memory["peak_gb"] + memory["bytes_per_pixel"] * (12e6 - 640 * 480) / 1e9
    )
    assert voc["tiles"] == 4 + 4 + 6  # 0.9: 450x338, 1.0: 500x375, 1.1: 550x413
    assert cityscapes["tiles"] == 3  # one row of 1024 tiles at 0, 683 and 1024
    assert voc_crf["tiles"] == voc["tiles"] and voc_crf["crf_s_per_image"] > 0
    assert voc_crf["crf_overlap"] == pytest.approx(
        (voc["s_per_image"] + voc_crf["crf_s_per_image"] - voc_crf["s_per_image"])
        / min(voc["s_per_image"], voc_crf["crf_s_per_image"])
    )
    assert voc_report["tiles"] == voc["tiles"]
    assert 0 < voc_report["report_s_per_image"] < voc_report["s_per_image"]
    assert voc_report["report_write_s"] > 0
    assert voc_report["report_share"] == pytest.approx(
        (voc_report["report_s_per_image"] * 1449 + voc_report["report_write_s"])
        / (voc_report["s_per_image"] * 1449)
    )
    for row in (voc, voc_crf, voc_report, cityscapes):
        assert row["s_per_image"] > 0 and row["forward_s_per_image"] > 0
        assert row["ratio"] == pytest.approx(
            row["s_per_image"] / row["forward_s_per_image"]
        )
    assert "outside_forward" in capsys.readouterr().out
