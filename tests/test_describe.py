"""The describe command: builds and reports a recipe's model, or names the bad key."""

from pathlib import Path

from tfdeeplab.describe import main

VOC = str(Path(__file__).parents[1] / "recipes" / "voc.yaml")
SMALL = ["model.depth=50", "model.units_per_stage=[1,1,1,1]", "data.crop_size=[65,65]"]


def test_reports_the_model(capsys):
    assert main([VOC, "--set", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "ResNet-v1-50, output stride 16" in out
    assert "65x65x3 -> 65x65x21" in out
    assert "trainable" in out and "lr multipliers    x2" in out


def test_bad_recipe_is_one_line(capsys):
    assert main([VOC, "--set", "model.output_stride=12"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"error: {VOC}: model.output_stride: expected one of 8, 16, 32, got 12"
    )
