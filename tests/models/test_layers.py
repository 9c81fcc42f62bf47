"""Custom layers: upsampling maths, align-corners resizing, serialization."""

import keras
import numpy as np
import pytest

from tests.helpers import assert_serialization_round_trip
from tfdeeplab.models.layers import (
    AlignedBilinearResize,
    FixedBilinearUpsampling,
    FrozenBatchNormalization,
    MultiplierConv2D,
    bilinear_kernel_1d,
)


def transposed_conv_reference(logits, factor, out_size):
    """MXNet's Deconvolution(kernel 2f, stride f, bilinear) + Crop(offset f/2)."""
    n, h, w, c = logits.shape
    taps = bilinear_kernel_1d(factor)
    full = np.zeros((n, (h + 1) * factor, (w + 1) * factor, c))
    for i in range(h):
        for j in range(w):
            full[
                :,
                i * factor : i * factor + 2 * factor,
                j * factor : j * factor + 2 * factor,
            ] += (
                np.outer(taps, taps)[None, :, :, None]
                * logits[:, i, j][:, None, None, :]
            )
    offset = factor // 2
    return full[:, offset : offset + out_size[0], offset : offset + out_size[1]]


def test_bilinear_kernel_is_caffes_filler():
    taps = bilinear_kernel_1d(16)
    assert taps.shape == (32,)
    assert taps[0] == pytest.approx(1 - 15.5 / 16)
    assert taps[15] == taps[16] == pytest.approx(1 - 0.5 / 16)
    np.testing.assert_allclose(taps, taps[::-1])
    # Stride-16 copies of the filter sum to one: a partition of unity.
    np.testing.assert_allclose(taps[:16] + taps[16:], np.ones(16), rtol=1e-6)
    # Odd factors: Caffe centres the filter on tap f - 1 (its kernel is 2f - 1 wide).
    np.testing.assert_allclose(
        bilinear_kernel_1d(3), [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3, 0], rtol=1e-6
    )


def test_fixed_upsampling_matches_mxnet_deconv_and_crop():
    logits = np.random.default_rng(0).normal(size=(2, 20, 20, 3)).astype("float32")
    reference = np.zeros((2, 321, 321, 1), "float32")
    got = FixedBilinearUpsampling(16)([logits, reference]).numpy()
    assert got.shape == (2, 321, 321, 3)
    np.testing.assert_allclose(
        got, transposed_conv_reference(logits, 16, (321, 321)), rtol=1e-5, atol=1e-5
    )


def test_fixed_upsampling_keeps_constants_inside():
    logits = np.full((1, 5, 6, 2), 3.0, "float32")
    got = FixedBilinearUpsampling(8)(
        [logits, np.zeros((1, 40, 48, 1), "float32")]
    ).numpy()
    # Output pixel p is centred between feature pixels once p >= factor/2 - 1/2.
    np.testing.assert_allclose(got[:, 4:36, 4:44], 3.0, rtol=1e-6)
    assert got[0, 0, 0, 0] < 3.0  # the border fades, as MXNet's crop does


def test_aligned_resize_maps_corners_onto_corners():
    features = np.random.default_rng(1).normal(size=(1, 41, 41, 2)).astype("float32")
    reference = np.zeros((1, 321, 321, 1), "float32")
    up = AlignedBilinearResize()([features, reference]).numpy()
    assert up.shape == (1, 321, 321, 2)
    np.testing.assert_allclose(up[:, ::8, ::8], features, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale, expected", [(0.75, 241), (0.5, 161), (1.0, 321)])
def test_aligned_resize_by_scale_matches_deeplab_v2_sizes(scale, expected):
    image = np.zeros((1, 321, 321, 3), "float32")
    assert AlignedBilinearResize(scale=scale)(image).shape == (1, expected, expected, 3)


def test_frozen_batch_norm_is_an_affine_map():
    layer = FrozenBatchNormalization(epsilon=1e-5)
    x = np.random.default_rng(2).normal(size=(4, 3, 3, 2)).astype("float32")
    layer.build(x.shape)
    layer.moving_mean.assign([1.0, -1.0])
    layer.moving_variance.assign([4.0, 0.25])
    layer.gamma.assign([2.0, 1.0])
    layer.beta.assign([0.5, 0.0])
    expected = np.array([2.0, 1.0]) * (x - [1.0, -1.0]) / np.sqrt(
        np.array([4.0, 0.25]) + 1e-5
    ) + [0.5, 0.0]
    np.testing.assert_allclose(layer(x, training=True), expected, rtol=1e-5, atol=1e-5)
    assert not layer.trainable_weights


IMAGES = np.random.default_rng(3).normal(size=(2, 9, 11, 4)).astype("float32")
REFERENCE = np.zeros((2, 17, 21, 1), "float32")
CASES = {
    "frozen_bn": (
        FrozenBatchNormalization,
        dict(epsilon=1e-3, momentum=0.5, center=False, name="bn_x"),
        IMAGES,
    ),
    "multiplier_conv": (
        MultiplierConv2D,
        dict(
            filters=4,
            kernel_size=(3, 3),
            padding="same",
            dilation_rate=(2, 2),
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=1),
            kernel_lr_multiplier=10.0,
            bias_lr_multiplier=20.0,
            name="c",
        ),
        IMAGES,
    ),
    "fixed_upsampling": (
        FixedBilinearUpsampling,
        dict(factor=2, name="up"),
        [IMAGES, REFERENCE],
    ),
    "resize_by_scale": (AlignedBilinearResize, dict(scale=0.5, name="half"), IMAGES),
    "resize_to_reference": (
        AlignedBilinearResize,
        dict(scale=None, name="match"),
        [IMAGES, REFERENCE],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_serialization_round_trip(case):
    layer_class, init_kwargs, inputs = CASES[case]
    restored = assert_serialization_round_trip(layer_class, init_kwargs, inputs)
    if layer_class is FrozenBatchNormalization:
        assert not restored.trainable  # frozen after a round trip too
