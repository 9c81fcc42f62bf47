"""`--format tflite|onnx`: one file per format, run in its own runtime in a process
that never imports tfdeeplab, against the Keras model; every refusal; nothing left
behind by an interrupted export."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.helpers import tiny, tiny_model, tiny_overrides
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.export import __main__ as export_cli
from tfdeeplab.export.fixed_size import FixedSizeNetwork
from tfdeeplab.export.model_file import RuntimeCheckError, run_in_runtime
from tfdeeplab.export.onnx_file import onnx_bytes
from tfdeeplab.export.tflite_file import _first_problem, tflite_bytes
from tfdeeplab.models import build_model

SIZE = (65, 65)
CHANNEL_ORDER, MEAN = "bgr", (104.0, 116.0, 122.0)
VARIANTS = {
    "dcn_paper_head": {},
    "aspp_head": {"head": "aspp_v2", "atrous_rates": (6, 12)},
    "deformable_res5": {"deformable_units": ("res5a",)},
    "multi_scale_inputs": {"msc_scales": (1.0, 0.5)},
}


def conditioned_model(variant):
    """A random tiny model whose logits span about +-6, as a trained one's do (a
    random head's reach the thousands, where float32 rounding alone moves the
    softmax by more than 1e-4)."""
    keras.utils.set_random_seed(4)
    config = tiny(tiny_model(), units_per_stage=(1, 1, 1, 1), **VARIANTS[variant])
    model = build_model(config)
    network = FixedSizeNetwork(model, SIZE, CHANNEL_ORDER, MEAN)
    image = np.random.default_rng(1).integers(0, 256, (1, *SIZE, 3), np.uint8)
    logits = model(network._normalised(image), training=False)
    scale = 6.0 / float(np.abs(logits).max())
    for layer in model._flatten_layers():
        if (
            isinstance(layer, keras.layers.Conv2D)
            and layer.filters == config.num_classes
        ):
            layer.kernel.assign(layer.kernel * scale)
            if layer.use_bias:
                layer.bias.assign(layer.bias * scale)
    return network


@pytest.fixture(scope="module")
def networks():
    return {variant: conditioned_model(variant) for variant in VARIANTS}


def in_runtime(path, image, tmp_path):
    """The file's outputs for `image`, from its runtime in a fresh process."""
    np.save(tmp_path / "image.npy", image)
    record = run_in_runtime(
        path,
        "--image",
        str(tmp_path / "image.npy"),
        "--outputs",
        str(tmp_path / "out.npz"),
    )
    assert not record["tfdeeplab_imported"] and not record["tensorflow_imported"]
    return record, dict(np.load(tmp_path / "out.npz"))


def assert_same_as_keras(outputs, expected):
    np.testing.assert_allclose(
        outputs["probabilities"], expected["probabilities"], atol=1e-4, rtol=0
    )
    top2 = np.sort(expected["probabilities"], -1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > 1e-4  # not a near-tie
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(outputs["labels"][clear], expected["labels"][clear])


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("file_format", ["tflite", "onnx"])
def test_the_file_in_its_runtime_gives_the_keras_models_probabilities(
    networks, variant, file_format, tmp_path
):
    network = networks[variant]
    data = tflite_bytes(network) if file_format == "tflite" else onnx_bytes(network)
    path = tmp_path / f"model.{file_format}"
    path.write_bytes(data)
    image = np.random.default_rng(7).integers(0, 256, (1, *SIZE, 3), np.uint8)
    record, outputs = in_runtime(path, image, tmp_path)
    expected = {k: v.numpy() for k, v in network.segment(image).items()}
    assert_same_as_keras(outputs, expected)
    assert record["inputs"] == [
        {"name": "image", "shape": [1, *SIZE, 3], "dtype": "uint8"}
    ]
    shapes = {
        entry["name"]: (entry["shape"], entry["dtype"]) for entry in record["outputs"]
    }
    assert shapes == {
        "labels": ([1, *SIZE], "int32"),
        "probabilities": ([1, *SIZE, 5], "float32"),
    }


def run_export(demo_shards, trained_run, *arguments):
    return export_cli.main(
        [
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            *arguments,
            "--set",
            *tiny_overrides(demo_shards),
        ]
    )


AGREEMENT = re.compile(
    r"labels agree on ([\d.]+)% of the pixels; mIoU ([\d.]+)% -> ([\d.]+)%"
)


@pytest.mark.slow
@pytest.mark.parametrize("quantize, agreement", [("float16", 99.5), ("int8", 90.0)])
def test_quantized_tflite_on_the_demo_data_reports_its_agreement(
    demo_shards, trained_run, tmp_path, capsys, quantize, agreement
):
    out = tmp_path / f"demo_{quantize}.tflite"
    more = ["--calibration-images", "8"] if quantize == "int8" else []
    code = run_export(
        demo_shards,
        trained_run,
        "--format",
        "tflite",
        "--quantize",
        quantize,
        "--out",
        str(out),
        "--check-images",
        "4",
        *more,
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"wrote {out}" in printed and "input  image: uint8 [1, 33, 33, 3]" in printed
    assert "output probabilities: float32 [1, 33, 33, 21]" in printed
    assert "ran once in LiteRT" in printed
    agree, float_miou, quantized_miou = map(float, AGREEMENT.search(printed).groups())
    assert agree >= agreement
    assert abs(float_miou - quantized_miou) < 100 - agreement + 5
    float32 = tmp_path / "demo.tflite"
    assert (
        run_export(
            demo_shards, trained_run, "--format", "tflite", "--out", str(float32)
        )
        == 0
    )
    assert out.stat().st_size < 0.6 * float32.stat().st_size  # weights really shrank


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--input-size", "65", "65"], "--input-size: the savedmodel format"),
        (["--quantize", "int8"], "--quantize: the savedmodel format"),
        (["--format", "onnx", "--quantize", "float16"], "--quantize: only the tflite"),
        (["--format", "tflite", "--calibration-images", "5"], "only --quantize int8"),
        (
            ["--format", "tflite", "--out", "{tmp}/x.onnx"],
            "a tflite export is a .tflite",
        ),
        (
            ["--format", "onnx", "--out", "{tmp}/model.onnx"],
            "model.onnx exists; pass --force",
        ),
        (
            ["--format", "onnx", "--out", "{tmp}/photo.onnx", "--force"],
            "is not an ONNX model",
        ),
        (["--format", "tflite", "--out", "{tmp}/dir.tflite"], "is a folder"),
        (
            ["--format", "onnx", "--input-size", "1", "1", "--out", "{tmp}/x.onnx"],
            "input size 1x1: the model takes at least 3x3",
        ),
        (
            [
                "--format",
                "tflite",
                "--input-size",
                "2",
                "65",
                "--out",
                "{tmp}/x.tflite",
            ],
            "input size 2x65: the model takes at least 3x3",
        ),
    ],
)
def test_refusals_are_one_line_before_any_work(
    demo_shards, trained_run, tmp_path, capsys, arguments, message
):
    (tmp_path / "photo.onnx").write_bytes(b"\xff\xd8 not a model")
    (tmp_path / "model.onnx").write_bytes(identity_onnx())
    (tmp_path / "dir.tflite").mkdir()
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    if "--out" not in arguments:
        arguments += ["--out", str(tmp_path / "out")]
    assert run_export(demo_shards, trained_run, *arguments) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (tmp_path / "photo.onnx").read_bytes() == b"\xff\xd8 not a model"
    assert (tmp_path / "model.onnx").read_bytes() == identity_onnx()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dir.tflite",
        "model.onnx",
        "photo.onnx",
    ]


def identity_onnx() -> bytes:
    """A one-node ONNX model: a file the export may replace with --force."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    result = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g", [value], [result]
    )
    return helper.make_model(graph).SerializeToString()


def test_a_missing_converter_names_the_pip_command(
    demo_shards, trained_run, tmp_path, capsys, monkeypatch
):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tf2onnx" else find_spec(name, *a),
    )
    out = tmp_path / "model.onnx"
    assert (
        run_export(demo_shards, trained_run, "--format", "onnx", "--out", str(out)) == 2
    )
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert "pip install tf2onnx onnxruntime" in err and not out.exists()


def test_an_interrupted_export_leaves_nothing(
    demo_shards, trained_run, tmp_path, capsys, monkeypatch
):
    from tfdeeplab.export import tflite_file

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tflite_file, "tflite_bytes", interrupted)
    out = tmp_path / "model.tflite"
    assert (
        run_export(demo_shards, trained_run, "--format", "tflite", "--out", str(out))
        == 130
    )
    assert "nothing was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_does_not_run_is_one_line(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40)
    with pytest.raises(RuntimeCheckError, match=r"broken.tflite: does not run"):
        run_in_runtime(broken)


def test_a_converter_error_becomes_the_op_it_lacks():
    message = (
        "loc(callsite(...)): error: 'tf.StridedSlice' op is neither a custom op "
        "nor a flex op\n<unknown>:0: error: failed while converting: 'main'"
    )
    assert _first_problem(message).startswith("the model needs tf.StridedSlice")


def test_runtime_check_runs_without_tfdeeplab_on_its_path():
    script = Path(__file__).parents[2] / "tfdeeplab" / "export" / "runtime_check.py"
    text = script.read_text()
    imports = re.findall(r"^\s*(?:from|import) ([\w.]+)", text, re.MULTILINE)
    assert not [
        name for name in imports if name.startswith(("tfdeeplab", "tensorflow"))
    ]


def test_tiles_are_cut_around_the_centre_and_padded_with_the_mean():
    from tfdeeplab.export.calibration import fit_to_size, mean_rgb

    image = np.arange(5 * 8).reshape(5, 8).astype(np.uint8)
    cut = fit_to_size(image, (3, 4), 0)
    np.testing.assert_array_equal(cut, image[1:4, 2:6])
    padded = fit_to_size(image[..., None].repeat(3, -1), (7, 8), (1, 2, 3))
    assert padded.shape == (7, 8, 3) and (padded[5:] == (1, 2, 3)).all()
    assert mean_rgb("bgr", (104.0, 116.0, 122.0)).tolist() == [122, 116, 104]


def test_label_agreement_counts_labelled_pixels_only():
    from tfdeeplab.export.calibration import label_agreement

    truth = np.array([[0, 1], [1, 255]])
    tiles = [(np.zeros((1, 2, 2, 3), np.uint8), truth)]
    reference = np.array([[0, 1], [1, 1]])
    changed = np.array([[0, 0], [1, 0]])  # one labelled pixel differs, one ignored
    result = label_agreement(tiles, lambda _: reference, lambda _: changed, 2)
    assert result.images == 1 and result.label_agreement == pytest.approx(2 / 3)
    assert result.float_miou == pytest.approx(1.0)
    # changed: class 0 {00, 01} vs truth {00}: 1/2; class 1 {10} vs {01, 10}: 1/2
    assert result.quantized_miou == pytest.approx(0.5)
    assert result.miou_change == pytest.approx(-0.5)
