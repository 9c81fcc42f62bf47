"""The step benchmark counts convolution FLOPs right and reports every figure."""

import json

import keras
import numpy as np
import pytest

from tfdeeplab.bench.__main__ import main
from tfdeeplab.bench.step import training_conv_flops


def two_conv_model(first_trainable, second_trainable):
    images = keras.Input((8, 8, 3))
    first = keras.layers.Conv2D(4, 3, padding="same", trainable=first_trainable)
    second = keras.layers.Conv2D(5, 1, trainable=second_trainable)
    return keras.Model(images, second(keras.layers.ReLU()(first(images))))


FIRST = 2 * 8 * 8 * 4 * (3 * 3 * 3)  # forward FLOPs of each conv on one image
SECOND = 2 * 8 * 8 * 5 * 4


@pytest.mark.parametrize(
    "trainable, passes",
    [
        ((False, False), (1, 1)),  # all frozen: forward only
        ((False, True), (1, 2)),  # first trainable conv: no input gradient
        ((True, False), (2, 2)),  # frozen above trainable: gradient passes through
        ((True, True), (2, 3)),
    ],
)
def test_conv_flops_count_forward_weight_and_input_gradients(trainable, passes):
    flops = training_conv_flops(two_conv_model(*trainable), (8, 8, 3))
    assert flops == FIRST * passes[0] + SECOND * passes[1]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["voc_dcn"])  # ResNet-101 + DCN; NaN crashed it
def test_step_benchmark_table_and_json(recipe, tmp_path, capsys):
    out = tmp_path / "step.json"
    arguments = ["step", "--crop", "33", "--batch", "1", "--steps", "2"]
    arguments += ["--recipe", recipe]
    arguments += ["--warmup", "1", "--repeats", "1", "--json", str(out)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    rows = {row["model"]: row for row in figures["rows"]}
    assert figures["settings"]["crop"] == "33x33"
    assert figures["settings"]["precision"] == "float32"
    assert set(rows) == {
        f"ours ({recipe})",
        "tf-models-official DeepLabV3",
        "dense conv peak",
    }
    ours = rows[f"ours ({recipe})"]
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


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["step", "--batch", "-1"], "--batch: expected at least 1, got -1"),
        (["step", "--crop", "0"], "--crop: expected at least 1, got 0"),
        (["step", "--steps", "many"], "--steps: expected a whole number, got 'many'"),
        (["data", "--images", "0"], "--images: expected at least 1, got 0"),
        (["convert", "--workers", "0"], "--workers: expected at least 1, got 0"),
    ],
)
def test_impossible_values_are_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as raised:
        main(arguments)
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    assert error.startswith("error: python -m tfdeeplab.bench ")


def test_timed_steps_must_be_finite():
    from tfdeeplab.bench.arguments import BenchmarkError
    from tfdeeplab.bench.step import finite_steps

    losses = iter([0.7, float("nan"), 0.6])
    step, check = finite_steps(lambda: next(losses), "voc_dcn")
    step()
    check()  # all finite so far
    step()
    step()
    with pytest.raises(BenchmarkError, match="voc_dcn: the loss of step 2 of 3 is nan"):
        check()


@pytest.mark.slow
def test_the_calibrated_network_computes_the_same_in_and_out_of_a_graph():
    """Calibrated on a 33x33 image (2x2 maps in res4), ResNet-101 gave 0.4 eagerly
    and 1e8 in a tf.function on every CPU: statistics of too few values magnify the
    kernels' rounding. The benchmark's calibration must leave a network whose
    logits do not depend on the order the arithmetic runs in."""
    import tensorflow as tf

    from tfdeeplab.bench.step import _ours
    from tfdeeplab.config import load_recipe

    recipe = load_recipe("voc", ["data.crop_size=[33, 33]", "train.batch_size=1"])
    model, step = _ours(recipe)
    images = tf.constant(
        np.random.default_rng(1).normal(size=(1, 33, 33, 3)), tf.float32
    )
    eager = model(images, training=True).numpy()
    graph = tf.function(lambda x: model(x, training=True))(images).numpy()
    assert np.abs(eager).max() < 100
    np.testing.assert_allclose(graph, eager, rtol=1e-3, atol=1e-3 * np.abs(eager).max())
    losses = [step() for _ in range(3)]
    assert all(np.isfinite(losses)) and max(losses) < 2 * np.log(21), losses


@pytest.mark.slow
def test_the_benchmarks_run_on_cpus_without_onednn(tmp_path):
    """TensorFlow enables oneDNN on CPUs with AVX-512 VNNI only; elsewhere (AMD EPYC
    with AVX2) its own kernels run, which lack a dilated `tf.nn.conv2d` filter
    gradient. Both benchmarks that once failed there run here with oneDNN off."""
    import os
    import subprocess
    import sys

    environment = {
        **os.environ,
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    commands = [
        ["deform", "--sizes", "5", "--repeats", "1", "--no-memory"],
        [
            "step",
            "--recipe",
            "voc_dcn",
            "--crop",
            "33",
            "--batch",
            "1",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "1",
        ],
    ]
    for command in commands:
        finished = subprocess.run(
            [sys.executable, "-m", "tfdeeplab.bench", *command],
            capture_output=True,
            text=True,
            env=environment,
            timeout=600,
        )
        assert finished.returncode == 0, finished.stderr[-2000:]
