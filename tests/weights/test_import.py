"""Importing published weights: every tensor lands where its name says, folded right."""

import keras
import numpy as np
import pytest

from tests.helpers import tiny, tiny_model
from tests.weights.formats import write_caffemodel, write_keras_h5, write_mxnet_params
from tfdeeplab.catalog.resnet_layout import batch_norm_name, resnet_unit_names
from tfdeeplab.models import build_model
from tfdeeplab.weights import naming
from tfdeeplab.weights.__main__ import main as weights_main
from tfdeeplab.weights.importer import plan_import
from tfdeeplab.weights.loader import load_weights
from tfdeeplab.weights.mxnet_params import WeightsFormatError

EPSILON = 1e-5


def aspp_model():
    return build_model(tiny(tiny_model(), head="aspp_v2", atrous_rates=(6, 12)))


def units_of(config):
    return resnet_unit_names(config.depth, config.units_per_stage or None)


def backbone_layers(model):
    """(conv layer, bn layer, kernel shape) of every conv + BN pair of `model`."""
    shapes = {v.path: tuple(v.shape) for v in model.weights}
    pairs = []
    for path, shape in shapes.items():
        layer, _, name = path.partition("/")
        if name == "kernel" and (layer == "conv1" or layer.startswith("res")):
            if f"{batch_norm_name(layer)}/gamma" in shapes:
                pairs.append((layer, batch_norm_name(layer), shape))
    return pairs


def random_bn(rng, channels):
    return {
        "gamma": rng.uniform(0.5, 2, channels),
        "beta": rng.normal(size=channels),
        "mean": rng.normal(size=channels),
        "variance": rng.uniform(0.5, 2, channels),
    }


def plan(model, fmt, path, config):
    return plan_import(model, fmt, path, units=units_of(config), epsilon=EPSILON)


def test_mxnet_params_land_transposed_on_their_layers(tmp_path):
    config = tiny_model()
    model = build_model(config)
    rng = np.random.default_rng(0)
    arrays, expected = {}, {}
    for conv, bn, shape in backbone_layers(model):
        kernel = rng.normal(size=shape).astype(np.float32)
        arrays[f"arg:{conv}_weight"] = kernel.transpose(3, 2, 0, 1)  # OIHW
        expected[f"{conv}/kernel"] = kernel
        stats = random_bn(rng, shape[-1])
        arrays[f"arg:{bn}_gamma"], arrays[f"arg:{bn}_beta"] = (
            stats["gamma"],
            stats["beta"],
        )
        arrays[f"aux:{bn}_moving_mean"] = stats["mean"]
        arrays[f"aux:{bn}_moving_var"] = stats["variance"]
        for role, variable in (
            ("gamma", "gamma"),
            ("beta", "beta"),
            ("mean", "moving_mean"),
            ("variance", "moving_variance"),
        ):
            expected[f"{bn}/{variable}"] = stats[role]
    arrays["arg:fc1000_weight"] = rng.normal(size=(10, 2048))
    source = tmp_path / "resnet-0000.params"
    write_mxnet_params(source, arrays, legacy_names={"arg:conv1_weight"})
    result = plan(model, "mxnet", source, config)
    assert set(result.values) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(result.values[key], value, rtol=1e-6, err_msg=key)
    report = result.report()
    assert "arg:fc1000_weight" in report and "unused" in report
    assert "arg:res2a_branch1_weight" in report and "-> res2a_branch1/kernel" in report
    assert "fc6" in report  # the head starts from its initialiser


def test_caffe_blobs_are_scaled_and_the_aspp_head_maps(tmp_path):
    config = tiny(tiny_model(), head="aspp_v2", atrous_rates=(6, 12))
    model = build_model(config)
    rng = np.random.default_rng(1)
    layers, expected = [], {}
    for conv, bn, shape in backbone_layers(model):
        kernel = rng.normal(size=shape).astype(np.float32)
        layers.append((conv, "Convolution", [kernel.transpose(3, 2, 0, 1)]))
        expected[f"{conv}/kernel"] = kernel
        stats = random_bn(rng, shape[-1])
        factor = 999.0  # Caffe's moving-average scale: stored stats are multiplied
        layers.append(
            (
                bn,
                "BatchNorm",
                [
                    stats["mean"] * factor,
                    stats["variance"] * factor,
                    np.array([factor]),
                ],
            )
        )
        scale = "scale_conv1" if conv == "conv1" else "scale" + bn[len("bn") :]
        layers.append((scale, "Scale", [stats["gamma"], stats["beta"]]))
        expected[f"{bn}/moving_mean"] = stats["mean"]
        expected[f"{bn}/moving_variance"] = stats["variance"]
        expected[f"{bn}/gamma"], expected[f"{bn}/beta"] = stats["gamma"], stats["beta"]
    for index in range(2):  # DeepLab v2's ASPP layers
        kernel = rng.normal(size=(3, 3, 2048, 5)).astype(np.float32)
        bias = rng.normal(size=5).astype(np.float32)
        layers.append(
            (f"fc1_voc12_c{index}", "Convolution", [kernel.transpose(3, 2, 0, 1), bias])
        )
        expected[f"aspp_c{index}/kernel"], expected[f"aspp_c{index}/bias"] = (
            kernel,
            bias,
        )
    source = tmp_path / "init.caffemodel"
    write_caffemodel(source, layers, v1_names={"res2a_branch2a", "fc1_voc12_c1"})
    result = plan(model, "caffe", source, config)
    assert set(result.values) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(result.values[key], value, rtol=1e-5, err_msg=key)

    # Another dataset's head (7 classes): the backbone imports, the head does not.
    other = tiny(config, num_classes=7)
    result = plan(build_model(other), "caffe", source, other)
    assert not any(key.startswith("aspp") for key in result.values)
    assert len(result.values) == len(expected) - 4
    assert "does not fit aspp_c0" in result.report()
    assert "starts from its initialiser" in result.report()


def test_keras_biases_and_epsilon_fold_into_the_batch_norm(tmp_path):
    config = tiny_model()
    model = build_model(config)
    units = units_of(config)
    rng = np.random.default_rng(2)
    layers, expected = {}, {}
    keras_names = {"conv1": ("conv1_conv", "conv1_bn")}
    branches = {"branch1": 0, "branch2a": 1, "branch2b": 2, "branch2c": 3}
    for stage, names in units.items():
        for block, unit in enumerate(names, start=1):
            for branch, index in branches.items():
                prefix = f"conv{stage[-1]}_block{block}_{index}"
                keras_names[f"{unit}_{branch}"] = (f"{prefix}_conv", f"{prefix}_bn")
    for conv, bn, shape in backbone_layers(model):
        conv_name, bn_name = keras_names[conv]
        kernel = rng.normal(size=shape).astype(np.float32)
        bias = rng.normal(size=shape[-1]).astype(np.float32)
        stats = random_bn(rng, shape[-1])
        layers[conv_name] = [("kernel", kernel), ("bias", bias)]
        layers[bn_name] = [
            ("gamma", stats["gamma"]),
            ("beta", stats["beta"]),
            ("moving_mean", stats["mean"]),
            ("moving_variance", stats["variance"]),
        ]
        expected[f"{conv}/kernel"] = kernel
        expected[f"{bn}/moving_mean"] = stats["mean"] - bias
        expected[f"{bn}/moving_variance"] = stats["variance"] + 1.001e-5 - EPSILON
        expected[f"{bn}/gamma"], expected[f"{bn}/beta"] = stats["gamma"], stats["beta"]
    layers["predictions"] = [("kernel", rng.normal(size=(2048, 10)))]
    source = tmp_path / "resnet_weights.h5"
    write_keras_h5(source, layers)
    result = plan(model, "keras", source, config)
    assert set(result.values) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(
            result.values[key], value, rtol=1e-5, atol=1e-9, err_msg=key
        )
    assert "stem_pool_padding: 1" in result.report()


def keras_style_names(counts):
    """Keras Applications' names of a ResNet with `counts` units per stage."""
    names = ["conv1_conv/kernel", "conv1_conv/bias"]
    names += [
        f"conv1_bn/{w}" for w in ("gamma", "beta", "moving_mean", "moving_variance")
    ]
    for stage, count in zip(range(2, 6), counts, strict=True):
        for block in range(1, count + 1):
            for index in range(0 if block == 1 else 1, 4):
                prefix = f"conv{stage}_block{block}_{index}"
                names += [f"{prefix}_conv/kernel", f"{prefix}_conv/bias"]
                names += [
                    f"{prefix}_bn/{w}"
                    for w in ("gamma", "beta", "moving_mean", "moving_variance")
                ]
    return names


def msra_unit_names(counts):
    """MSRA/Caffe ResNet-101 unit names: res4a, res4b1..res4b22 (more than 3 units)."""
    units = []
    for stage, count in zip(range(2, 6), counts, strict=True):
        if count > 3:
            units += [f"res{stage}a"] + [f"res{stage}b{i}" for i in range(1, count)]
        else:
            units += [f"res{stage}{'abc'[i]}" for i in range(count)]
    return units


def test_resnet101_is_covered_exactly_once_by_each_formats_names():
    model = build_model(tiny(tiny_model(), depth=101, units_per_stage=()))
    units = resnet_unit_names(101)
    backbone = {
        v.path
        for v in model.weights
        if naming.BN_ROLES and (v.path.startswith(("conv1/", "bn_conv1/", "res", "bn")))
    }
    counts = (3, 4, 23, 3)
    convs = ["conv1"] + [
        f"{u}_{b}"
        for u in msra_unit_names(counts)
        for b in ("branch2a", "branch2b", "branch2c")
    ]
    convs += [f"res{s}a_branch1" for s in range(2, 6)]
    variable = {
        "kernel": "kernel",
        "bias": "bias",
        "gamma": "gamma",
        "beta": "beta",
        "mean": "moving_mean",
        "variance": "moving_variance",
    }

    def covered(tensors_per_name):
        hits = {}
        for tensors in tensors_per_name:
            for tensor in tensors or ():
                if tensor.role in ("bias", "scale_factor"):
                    continue  # folded (Keras) or a divisor (Caffe)
                path = f"{tensor.layer}/{variable[tensor.role]}"
                hits[path] = hits.get(path, 0) + 1
        return hits

    shape = np.zeros((1, 1, 1, 1))
    mxnet = [naming.from_mxnet(f"arg:{c}_weight", shape) for c in convs]
    for conv in convs:
        bn = batch_norm_name(conv)
        mxnet += [naming.from_mxnet(f"arg:{bn}_{r}", shape) for r in ("gamma", "beta")]
        mxnet += [
            naming.from_mxnet(f"aux:{bn}_{r}", shape)
            for r in ("moving_mean", "moving_var")
        ]
    caffe = []
    for conv in convs:
        bn = batch_norm_name(conv)
        scale = "scale_conv1" if conv == "conv1" else "scale" + bn[len("bn") :]
        caffe.append(naming.from_caffe(conv, "Convolution", [shape]))
        caffe.append(naming.from_caffe(bn, "BatchNorm", [shape] * 3))
        caffe.append(naming.from_caffe(scale, "Scale", [shape] * 2))
    keras_tensors = [
        naming.from_keras(name, shape, units) for name in keras_style_names(counts)
    ]
    torch_names = ["layer1.conv1.conv.weight"] + [
        f"layer1.conv1.bn.{w}"
        for w in ("weight", "bias", "running_mean", "running_var")
    ]
    for stage, count in zip(range(2, 6), counts, strict=True):
        for block in range(1, count + 1):
            parts = ["reduce", "conv3x3", "increase"] + (
                ["shortcut"] if block == 1 else []
            )
            for part in parts:
                prefix = f"base.layer{stage}.block{block}.{part}"
                torch_names += [f"{prefix}.conv.weight"] + [
                    f"{prefix}.bn.{w}"
                    for w in ("weight", "bias", "running_mean", "running_var")
                ]
    torch_tensors = [naming.from_torch(name, shape, units) for name in torch_names]
    for name, tensors in (
        ("mxnet", mxnet),
        ("caffe", caffe),
        ("keras", keras_tensors),
        ("torch", torch_tensors),
    ):
        hits = covered(tensors)
        assert set(hits) == backbone, name
        assert set(hits.values()) == {1}, name  # exactly one source each


def test_a_keras_resnet_and_our_backbone_compute_the_same_features(tmp_path):
    keras.utils.set_random_seed(3)
    reference = keras.applications.ResNet101(
        weights=None, include_top=False, input_shape=(None, None, 3)
    )
    rng = np.random.default_rng(3)
    layers = {}
    for layer in reference.layers:
        if not layer.weights:
            continue
        weights = []
        for variable in layer.weights:
            value = variable.numpy()
            name = variable.path.split("/")[-1]
            if name == "bias" or name.startswith(("moving", "beta")):
                value = rng.normal(0, 0.1, value.shape).astype(np.float32)
            if name in ("moving_variance", "gamma"):
                value = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
            variable.assign(value)
            weights.append((name, value))
        layers[layer.name] = weights
    source = tmp_path / "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras_h5(source, layers)
    config = tiny(
        tiny_model(),
        depth=101,
        units_per_stage=(),
        output_stride=32,
        stem_pool_padding=1,
    )
    model = build_model(config)
    result = plan(model, "keras", source, config)
    for path, value in result.values.items():
        next(v for v in model.weights if v.path == path).assign(value)
    # Sizes of 4k + 1: odd after conv1, where both stems pool the same windows.
    images = rng.normal(0, 1, (1, 69, 53, 3)).astype(np.float32)
    ours = keras.Model(model.input, model.get_layer("res5c_relu").output)(images)
    theirs = reference(images)
    assert ours.shape == theirs.shape == (1, 3, 2, 2048)
    np.testing.assert_allclose(
        ours, theirs, rtol=1e-3, atol=1e-3 * float(np.abs(theirs).max())
    )


def write_tiny_mxnet(path, model, drop=(), reshape=None):
    rng = np.random.default_rng(5)
    arrays = {}
    for conv, bn, shape in backbone_layers(model):
        kernel_shape = reshape if (reshape and conv == "res3a_branch2b") else shape
        arrays[f"arg:{conv}_weight"] = rng.normal(size=kernel_shape).transpose(
            3, 2, 0, 1
        )
        for role in ("gamma", "beta"):
            arrays[f"arg:{bn}_{role}"] = np.ones(shape[-1])
        for role in ("moving_mean", "moving_var"):
            arrays[f"aux:{bn}_{role}"] = np.ones(shape[-1])
    for name in drop:
        del arrays[name]
    write_mxnet_params(path, arrays)


@pytest.mark.parametrize(
    "problem, message",
    [
        ("wrong_format", "not a .caffemodel"),
        ("truncated", "truncated MXNet .params file"),
        ("shape", "arg:res3a_branch2b_weight: shape (3, 3, 64, 128) does not fit"),
        ("missing", "no source tensor for backbone weight res4a_branch2c/kernel"),
        ("depth", "units in res2..res5"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(problem, message, tmp_path, capsys):
    source, out = tmp_path / "resnet-0000.params", tmp_path / "out.npz"
    model = build_model(tiny_model())
    reshape = (3, 3, 64, 128) if problem == "shape" else None
    drop = ("arg:res4a_branch2c_weight",) if problem == "missing" else ()
    write_tiny_mxnet(source, model, drop=drop, reshape=reshape)
    if problem == "truncated":
        source.write_bytes(source.read_bytes()[:-1000])
    fmt = "caffe" if problem == "wrong_format" else "mxnet"
    units = "[3, 2, 2, 2]" if problem == "depth" else "[2, 2, 2, 2]"
    code = weights_main(
        [
            "import",
            "--format",
            fmt,
            "--source",
            str(source),
            "--recipe",
            "demo",
            "--out",
            str(out),
            "--set",
            f"model.units_per_stage={units}",
            "model.fc6_channels=32",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.exists() and list(tmp_path.iterdir()) == [source]


def test_the_command_writes_what_init_loads_and_inspect_lists_it(tmp_path, capsys):
    source, out = tmp_path / "resnet-0000.params", tmp_path / "weights" / "r.npz"
    model = build_model(tiny_model())
    write_tiny_mxnet(source, model)
    overrides = ["model.units_per_stage=[2, 2, 2, 2]", "model.fc6_channels=32"]
    assert (
        weights_main(
            [
                "import",
                "--format",
                "mxnet",
                "--source",
                str(source),
                "--recipe",
                "demo",
                "--out",
                str(out),
                "--set",
                *overrides,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "-> conv1/kernel (7, 7, 3, 64)" in printed and f"wrote {out}" in printed
    fresh = build_model(tiny_model())
    counts = load_weights(fresh, out)
    assert counts["loaded"] == len(backbone_layers(fresh)) * 5
    assert weights_main(["inspect", str(source)]) == 0
    listing = capsys.readouterr().out
    lines = [line.split() for line in listing.splitlines()]
    assert ["arg:conv1_weight", "(64,", "3,", "7,", "7)"] in lines
    assert "145 tensors (mxnet)" in listing


def test_mxnet_reader_refuses_other_files(tmp_path):
    from tfdeeplab.weights.mxnet_params import read_mxnet_params

    path = tmp_path / "x.params"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(40))
    with pytest.raises(WeightsFormatError, match="no NDArray list magic"):
        read_mxnet_params(path)


def test_torch_without_torch_is_one_line(monkeypatch, tmp_path):
    import builtins

    from tfdeeplab.weights.torch_state import TorchUnavailableError, read_torch_state

    real_import = builtins.__import__

    def without_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_torch)
    with pytest.raises(TorchUnavailableError, match="pip install torch"):
        read_torch_state(tmp_path / "model.pth")


def test_deeplab_pytorch_names_map_to_our_layers():
    units = resnet_unit_names(101)
    shape = np.zeros((4, 2, 3, 3))
    cases = {
        "base.layer1.conv1.conv.weight": ("conv1", "kernel"),
        "layer1.conv1.bn.running_var": ("bn_conv1", "variance"),
        "layer2.block1.shortcut.conv.weight": ("res2a_branch1", "kernel"),
        "layer4.block23.increase.bn.weight": ("bn4b22_branch2c", "gamma"),
        "module.base.layer5.block3.conv3x3.bn.bias": ("bn5c_branch2b", "beta"),
        "base.aspp.c3.bias": ("aspp_c3", "bias"),
    }
    for name, (layer, role) in cases.items():
        (tensor,) = naming.from_torch(name, shape, units)
        assert (tensor.layer, tensor.role) == (layer, role), name
    (kernel,) = naming.from_torch("layer1.conv1.conv.weight", shape, units)
    assert kernel.value.shape == (3, 3, 2, 4)  # OIHW -> HWIO
    assert (
        naming.from_torch("layer2.block1.reduce.bn.num_batches_tracked", shape, units)
        is None
    )


def test_units_the_model_lacks_count_towards_the_files_depth():
    from tfdeeplab.weights.importer import _unit_counts

    units = resnet_unit_names(50)
    layers = [
        t.layer
        for name in keras_style_names((3, 4, 23, 3))
        for t in naming.from_keras(name, np.zeros(1), units) or ()
    ]
    assert _unit_counts(layers) == {"res2": 3, "res3": 4, "res4": 23, "res5": 3}
