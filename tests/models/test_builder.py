"""build_model: sizes, heads, MSC, deformable units, saving, mixed precision."""

import keras
import numpy as np
import pytest

from tests.helpers import tiny
from tfdeeplab.catalog.resnet_layout import RESNET_UNITS
from tfdeeplab.config import ModelConfig
from tfdeeplab.models import build_model
from tfdeeplab.models.builder import smallest_input_side


def sub_model(model, layer_name):
    return keras.Model(model.input, model.get_layer(layer_name).output)


# ---------------------------------------------------------------- full-size properties
def expected_parameters(num_classes, head, deformable_units=0, units=RESNET_UNITS[101]):
    """Parameter counts from the architecture of SPEC §2, independent of the model code.

    Returns (total, trainable) with conv1 and res2 frozen and every BN frozen.
    """
    bn = 4  # gamma, beta, moving mean, moving variance per channel
    frozen = 7 * 7 * 3 * 64 + bn * 64
    trainable_convs, bn_params = 0, 0
    in_channels = 64
    for stage, (count, width) in enumerate(
        zip(units, (64, 128, 256, 512), strict=True), start=2
    ):
        stage_convs = 0
        out_channels = 4 * width
        for unit in range(count):
            if unit == 0:
                stage_convs += in_channels * out_channels
                bn_params += bn * out_channels
            stage_convs += (
                in_channels * width + 9 * width * width + width * out_channels
            )
            bn_params += bn * (2 * width + out_channels)
            in_channels = out_channels
        if stage == 2:
            frozen += stage_convs
        else:
            trainable_convs += stage_convs
    offsets = deformable_units * (9 * 512 * 18 + 18)
    if head == "dcn_deeplab":
        head_params = 2048 * 1024 + 1024 + 1024 * num_classes + num_classes
    else:
        head_params = 4 * (9 * 2048 * num_classes + num_classes)
    # res2's BN parameters are in bn_params; frozen counts only conv1's BN so far.
    trainable = trainable_convs + offsets + head_params
    total = frozen + trainable_convs + bn_params + offsets + head_params
    return total, trainable


@pytest.mark.slow
@pytest.mark.parametrize(
    "head, deformable",
    [
        ("dcn_deeplab", ()),
        ("aspp_v2", ()),
        ("dcn_deeplab", ("res5a", "res5b", "res5c")),
    ],
)
def test_resnet101_os16_parameter_counts(head, deformable):
    model = build_model(
        ModelConfig(num_classes=21, head=head, deformable_units=deformable)
    )
    total, trainable = expected_parameters(21, head, len(deformable))
    assert model.count_params() == total
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == trainable


@pytest.mark.slow
def test_seed_network_feature_map_sizes():
    """The seed: pool pad 0, OS16: 321 -> 161 -> 80 -> 20x20 logits, then 321x321."""
    model = build_model(
        ModelConfig(num_classes=21, output_stride=16, stem_pool_padding=0)
    )
    image = np.zeros((1, 321, 321, 3), "float32")
    assert sub_model(model, "score")(image).shape == (1, 20, 20, 21)
    assert model(image).shape == (1, 321, 321, 21)


@pytest.mark.slow
def test_deeplab_v2_network_feature_map_sizes():
    """DeepLab v2: pool pad 1, OS8: 321 -> 161 -> 81 -> 41x41 logits, then 321x321."""
    model = build_model(
        ModelConfig(
            num_classes=21,
            head="aspp_v2",
            output_stride=8,
            stem_pool_padding=1,
            upsampling="interp",
        )
    )
    image = np.zeros((1, 321, 321, 3), "float32")
    assert sub_model(model, "aspp_sum")(image).shape == (1, 41, 41, 21)
    assert model(image).shape == (1, 321, 321, 21)


# ------------------------------------------------------------------- small behaviour
@pytest.mark.parametrize("size", [(65, 65), (97, 80), (64, 71)])
@pytest.mark.parametrize("upsampling", ["deconv", "interp"])
@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_logits_have_the_input_size(tiny_model_config, size, upsampling, output_stride):
    config = tiny(tiny_model_config, upsampling=upsampling, output_stride=output_stride)
    model = build_model(config)
    assert model(np.zeros((2, *size, 3), "float32")).shape == (2, *size, 5)


def test_deformable_units_start_as_regular_convolutions(tiny_model_config):
    """Zero-initialised offsets: DCN equals its plain twin with the same weights."""
    plain = build_model(tiny_model_config)
    deformable = build_model(
        tiny(tiny_model_config, deformable_units=("res5a", "res5b"))
    )
    assert not np.any(deformable.get_layer("res5a_branch2b_offset").kernel.numpy())
    for layer in plain.layers:
        if layer.weights:
            deformable.get_layer(layer.name).set_weights(layer.get_weights())
    image = np.random.default_rng(0).normal(size=(1, 65, 65, 3)).astype("float32")
    np.testing.assert_allclose(deformable(image), plain(image), rtol=1e-4, atol=1e-4)


def test_single_scale_training_outputs(tiny_model_config):
    model = build_model(tiny_model_config, include_scale_logits=True)
    outputs = model(np.zeros((1, 65, 65, 3), "float32"))
    assert list(outputs) == ["logits"]


def test_save_and_load_keeps_custom_layers(tmp_path, tiny_model_config):
    config = tiny(
        tiny_model_config,
        deformable_units=("res5b",),
        msc_scales=(1.0, 0.5),
        head="aspp_v2",
        atrous_rates=(2, 4),
        head_kernel_lr_multiplier=10.0,
    )
    model = build_model(config)
    for variable in model.weights:  # move every weight off its initial value
        variable.assign(
            variable
            + np.random.default_rng(len(variable.path)).normal(0, 0.01, variable.shape)
        )
    image = np.random.default_rng(1).normal(size=(1, 65, 65, 3)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(image), model(image), rtol=1e-5, atol=1e-5)
    assert (
        restored.get_layer("deeplab").get_layer("aspp_c0").kernel_lr_multiplier == 10.0
    )


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_logits_are_float32(tiny_model_config, policy):
    config = tiny(tiny_model_config, deformable_units=("res5a",))
    model = build_model(config, dtype_policy=policy)
    assert model.get_layer("res4a_branch2a").compute_dtype == policy.split("_")[1]
    assert model.get_layer("res4a_branch2a").kernel.dtype == "float32"
    logits = model(
        np.random.default_rng(0).normal(size=(1, 65, 65, 3)).astype("float32")
    )
    assert logits.dtype == "float32"
    assert np.all(np.isfinite(logits))


@pytest.mark.parametrize(
    "changes, smallest",
    [
        ({}, 3),  # MSRA stem: the pool needs 2x2 after the 7x7/2 conv
        ({"stem_pool_padding": 1, "output_stride": 8}, 1),  # DeepLab v2's stem
        ({"msc_scales": (1.0, 0.75, 0.5)}, 5),  # floor(4 * 0.5) + 1 = 3
    ],
)
def test_the_smallest_input_side_is_the_smallest_that_runs(
    tiny_model_config, changes, smallest
):
    config = tiny(tiny_model_config, units_per_stage=(1, 1, 1, 1), **changes)
    assert smallest_input_side(config) == smallest
    model = build_model(config)
    logits = model(np.zeros([1, smallest, smallest + 4, 3], "float32"))
    assert logits.shape[1:3] == (smallest, smallest + 4)
    if smallest > 1:
        with pytest.raises(Exception):  # noqa: B017 (Keras wraps the op's error)
            model(np.zeros([1, smallest - 1, smallest + 4, 3], "float32"))
