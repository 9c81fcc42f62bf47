"""The conversion benchmark runs end to end and writes what it prints as JSON."""

import json

from tfdeeplab.bench.__main__ import main


def test_convert_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "convert.json"
    assert (
        main(["convert", "--images", "12", "--workers", "1", "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["benchmark"] == "convert"
    converters = [row["converter"] for row in figures["rows"]]
    assert converters[0].startswith("tfrecords_tools.voc")
    assert len(converters) == 3
    for row in figures["rows"]:
        assert row["images"] == 12 and row["images_per_s"] > 0
        assert row["converter"] in printed
    assert figures["rows"][0]["ours_over_this"] == 1.0
