"""The input-pipeline benchmark measures every peer and writes what it prints."""

import json

import pytest

from tfdeeplab.bench.__main__ import main


@pytest.mark.slow
def test_data_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "data.json"
    assert (
        main(
            [
                "data",
                "--images",
                "24",
                "--batches",
                "2",
                "--workers",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    names = [row["pipeline"] for row in figures["rows"]]
    assert names[0] == "ours (tfdeeplab.data)"
    assert any(name.startswith("tf-models-official") for name in names)
    assert any(name.startswith("tensorpack-style") for name in names)
    assert names[-1] == "decode-only ceiling"
    for row in figures["rows"]:
        assert row["images_per_s"] > 0 and row["pipeline"] in printed
