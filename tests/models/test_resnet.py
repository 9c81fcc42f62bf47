"""ResNet-v1 backbone: stride plan, atrous consistency, BN modes, frozen stages."""

import numpy as np
import pytest

from tfdeeplab.catalog.resnet_layout import stage_strides_and_dilations
from tfdeeplab.models import build_resnet_v1
from tfdeeplab.models.layers import FrozenBatchNormalization

TINY = dict(depth=50, units_per_stage=(2, 2, 2, 2))


def randomize_statistics(model, seed=0):
    """Non-trivial BN statistics, so BN modes and consistency tests can tell apart."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "BatchNormalization" in type(layer).__name__:
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, channels).astype("float32"))
            layer.moving_variance.assign(
                rng.uniform(0.5, 1.5, channels).astype("float32")
            )
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, channels).astype("float32"))


def test_stage_plan_for_each_output_stride():
    assert stage_strides_and_dilations(32) == {
        "res2": (1, 1),
        "res3": (2, 1),
        "res4": (2, 1),
        "res5": (2, 1),
    }
    assert stage_strides_and_dilations(16) == {
        "res2": (1, 1),
        "res3": (2, 1),
        "res4": (2, 1),
        "res5": (1, 2),
    }
    assert stage_strides_and_dilations(8) == {
        "res2": (1, 1),
        "res3": (2, 1),
        "res4": (1, 2),
        "res5": (1, 4),
    }
    with pytest.raises(ValueError, match="output_stride"):
        stage_strides_and_dilations(12)


def test_dilations_reach_the_layers():
    model = build_resnet_v1(output_stride=8, **TINY)
    assert model.get_layer("res3a_branch2a").strides == (2, 2)
    assert model.get_layer("res4a_branch2a").strides == (1, 1)
    assert model.get_layer("res4b_branch2b").dilation_rate == (2, 2)
    assert model.get_layer("res5a_branch2b").dilation_rate == (4, 4)
    assert model.get_layer("res5a_branch1").strides == (1, 1)


@pytest.mark.parametrize("stem_pool_padding", [0, 1])
def test_atrous_consistency(stem_pool_padding):
    """Dense atrous features, subsampled, equal the strided network's (deeplab2).

    In float64: in float32 the dense and strided convolutions (different oneDNN
    kernels) differ by a few 1e-4 on features in the hundreds.
    """
    networks = {
        stride: build_resnet_v1(
            output_stride=stride,
            stem_pool_padding=stem_pool_padding,
            dtype_policy="float64",
            **TINY,
        )
        for stride in (8, 16, 32)
    }
    randomize_statistics(networks[32])
    weights = networks[32].get_weights()
    for network in networks.values():
        network.set_weights(weights)
    images = np.random.default_rng(1).normal(size=(2, 97, 97, 3))
    features = {stride: network(images).numpy() for stride, network in networks.items()}
    assert features[32].shape[1] >= 3 and features[32].dtype == np.float64
    np.testing.assert_allclose(features[16][:, ::2, ::2], features[32], rtol=1e-9)
    np.testing.assert_allclose(features[8][:, ::4, ::4], features[32], rtol=1e-9)
    np.testing.assert_allclose(features[8][:, ::2, ::2], features[16], rtol=1e-9)
    # Guard: the dense maps really are denser and not all alike.
    assert features[8].shape[1] > 3 * features[32].shape[1]
    shifted = features[8][:, 1::4, 1::4]
    assert not np.allclose(
        shifted, features[32][:, : shifted.shape[1], : shifted.shape[2]], atol=1e-3
    )


@pytest.mark.parametrize(
    "size, padding, expected",
    [(321, 0, 80), (321, 1, 81), (320, 0, 80), (65, 0, 16), (65, 1, 17)],
)
def test_stem_pool_is_caffe_ceil_mode(size, padding, expected):
    model = build_resnet_v1(stem_pool_padding=padding, **TINY)
    import keras

    stem = keras.Model(model.input, model.get_layer("pool1").output)
    pooled = stem(np.zeros([1, size, size, 3], "float32"))
    assert pooled.shape[1:3] == (expected, expected)


def test_frozen_batch_norm_ignores_training_flag():
    model = build_resnet_v1(batch_norm="frozen", **TINY)
    randomize_statistics(model)
    images = np.random.default_rng(2).normal(size=(2, 65, 65, 3)).astype("float32")
    np.testing.assert_array_equal(
        model(images, training=True), model(images, training=False)
    )
    assert all(
        isinstance(layer, FrozenBatchNormalization)
        for layer in model.layers
        if layer.name.startswith("bn")
    )
    assert not any(
        layer.trainable_weights for layer in model.layers if layer.name.startswith("bn")
    )


def test_train_batch_norm_uses_batch_statistics():
    """The guard for the test above: a trainable BN does change with the flag."""
    model = build_resnet_v1(batch_norm="train", frozen_stages=(), **TINY)
    randomize_statistics(model)
    images = np.random.default_rng(2).normal(size=(2, 65, 65, 3)).astype("float32")
    assert not np.allclose(
        model(images, training=True), model(images, training=False), atol=1e-3
    )
    assert model.get_layer("bn2a_branch2a").trainable_weights


@pytest.mark.parametrize("batch_norm", ["frozen", "train"])
def test_frozen_stages_have_no_trainable_weights(batch_norm):
    model = build_resnet_v1(
        batch_norm=batch_norm, frozen_stages=("conv1", "res2"), **TINY
    )
    frozen = [
        layer
        for layer in model.layers
        if layer.name in ("conv1", "bn_conv1")
        or layer.name[:4] in ("res2", "bn2a", "bn2b")
    ]
    assert len(frozen) > 10
    assert not any(layer.trainable_weights for layer in frozen)
    assert model.get_layer("res3a_branch2a").trainable_weights
    frozen_paths = {v.path for layer in frozen for v in layer.weights}
    assert frozen_paths.isdisjoint(v.path for v in model.trainable_weights)


@pytest.mark.slow
def test_caffe_layer_names():
    model = build_resnet_v1(depth=101)
    names = {layer.name for layer in model.layers}
    for expected in (
        "conv1",
        "bn_conv1",
        "res2a_branch1",
        "bn2a_branch1",
        "res3b3_branch2b",
        "bn3b3_branch2b",
        "res4b22_branch2c",
        "bn4b22_branch2c",
        "res5c_branch2c",
    ):
        assert expected in names
    assert "res4b23_branch2a" not in names
    assert model.output.shape[-1] == 2048


def test_unknown_deformable_unit_is_an_error():
    with pytest.raises(ValueError, match=r"no units named \['res5d'\]"):
        build_resnet_v1(deformable_units=("res5d",), **TINY)


def test_sync_batch_norm_uses_the_global_batch(two_replicas):
    """Under 2 replicas, `sync` BN in training normalises over both halves together."""
    import tensorflow as tf

    images = np.random.default_rng(3).normal(size=(4, 33, 33, 3)).astype("float32")
    reference = build_resnet_v1(batch_norm="train", frozen_stages=(), **TINY)
    expected = reference(images, training=True).numpy()

    strategy = two_replicas
    with strategy.scope():
        synced = build_resnet_v1(batch_norm="sync", frozen_stages=(), **TINY)
    synced.set_weights(reference.get_weights())
    assert strategy.num_replicas_in_sync == 2
    halves = strategy.experimental_distribute_values_from_function(
        lambda context: images[
            2 * context.replica_id_in_sync_group : 2 * context.replica_id_in_sync_group
            + 2
        ]
    )
    per_replica = strategy.run(
        tf.function(lambda x: synced(x, training=True)), args=(halves,)
    )
    got = np.concatenate(
        [t.numpy() for t in strategy.experimental_local_results(per_replica)]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)

    unsynced_half = reference(images[:2], training=True).numpy()
    assert not np.allclose(got[:2], unsynced_half, atol=1e-3)
