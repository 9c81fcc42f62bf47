"""The step benchmark counts convolution FLOPs right and reports every figure."""

import json

import keras
import numpy as np
import pytest

from tfdeeplab.bench.__main__ import main
from tfdeeplab.bench.step import training_conv_flops


def one_conv_model(trainable):
    images = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv", trainable=trainable)
    return keras.Model(images, conv(images))


def test_a_trainable_conv_costs_three_forward_passes_and_a_frozen_one_one():
    forward = 2 * 8 * 8 * 4 * (3 * 3 * 3)
    assert training_conv_flops(one_conv_model(False), (8, 8, 3)) == forward
    assert training_conv_flops(one_conv_model(True), (8, 8, 3)) == 3 * forward


@pytest.mark.slow
def test_step_benchmark_table_and_json(tmp_path, capsys):
    out = tmp_path / "step.json"
    arguments = ["step", "--crop", "33", "--batch", "1", "--steps", "1"]
    arguments += ["--warmup", "1", "--repeats", "1", "--json", str(out)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    rows = {row["model"]: row for row in figures["rows"]}
    assert set(rows) == {
        "ours (voc)",
        "tf-models-official DeepLabV3",
        "dense conv peak",
    }
    ours = rows["ours (voc)"]
    assert ours["images_per_s"] > 0 and 0 < ours["fraction_of_peak"]
    peer = rows["tf-models-official DeepLabV3"]
    assert np.isclose(
        peer["ours_over_this"], ours["images_per_s"] / peer["images_per_s"]
    )
    assert "tf-models-official DeepLabV3" in printed and "fraction_of_peak" in printed


def test_a_bad_recipe_override_is_one_line(capsys):
    assert main(["step", "--set", "train.bogus=1"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "train.bogus: unknown key" in error
