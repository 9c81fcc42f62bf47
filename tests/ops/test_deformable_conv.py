"""Deformable convolution: against a plain loop, regular conv, and numeric gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_serialization_round_trip
from tfdeeplab.ops.deformable_conv import (
    DeformableConv2D,
    deformable_conv2d,
    output_size,
)


def loop_deformable_conv(x, offsets, kernel, stride, pad, dilation, groups, mask=None):
    """Straight from the definition (SPEC §2): one bilinear sample per tap and pixel."""
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    ho = output_size(h, kh, stride, pad, dilation)
    wo = output_size(w, kw, stride, pad, dilation)
    cg = c // groups
    out = np.zeros((n, ho, wo, o))

    def pixel(b, y, xx, ch):
        return x[b, y, xx, ch] if 0 <= y < h and 0 <= xx < w else 0.0

    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ki in range(kh):
                    for kj in range(kw):
                        tap = ki * kw + kj
                        for ch in range(c):
                            g = ch // cg
                            dy = offsets[b, i, j, g * 2 * kh * kw + 2 * tap]
                            dx = offsets[b, i, j, g * 2 * kh * kw + 2 * tap + 1]
                            y = i * stride - pad + ki * dilation + dy
                            xx = j * stride - pad + kj * dilation + dx
                            if y <= -1 or y >= h or xx <= -1 or xx >= w:
                                value = 0.0
                            else:
                                y0, x0 = int(np.floor(y)), int(np.floor(xx))
                                ly, lx = y - y0, xx - x0
                                value = (
                                    (1 - ly) * (1 - lx) * pixel(b, y0, x0, ch)
                                    + (1 - ly) * lx * pixel(b, y0, x0 + 1, ch)
                                    + ly * (1 - lx) * pixel(b, y0 + 1, x0, ch)
                                    + ly * lx * pixel(b, y0 + 1, x0 + 1, ch)
                                )
                            if mask is not None:
                                value *= mask[b, i, j, g * kh * kw + tap]
                            out[b, i, j] += value * kernel[ki, kj, ch]
    return out


# Every semantic test runs on both implementations: the C++ kernels and the reference.
BOTH = pytest.mark.parametrize("implementation", ["custom_op", "reference"])


@BOTH
@pytest.mark.parametrize(
    "stride, pad, dilation, groups, modulated",
    [(1, 1, 1, 1, False), (2, 2, 2, 2, False), (1, 0, 1, 2, True), (2, 1, 1, 1, True)],
)
def test_matches_loop_reference(
    stride, pad, dilation, groups, modulated, implementation
):
    rng = np.random.default_rng(stride * 10 + pad + dilation + groups)
    x = rng.normal(size=(2, 7, 6, 4))
    kernel = rng.normal(size=(3, 3, 4, 3))
    ho = output_size(7, 3, stride, pad, dilation)
    wo = output_size(6, 3, stride, pad, dilation)
    # Offsets large enough to leave the image and hit all boundary cases.
    offsets = rng.uniform(-3, 3, size=(2, ho, wo, 2 * groups * 9))
    mask = rng.uniform(0, 1, size=(2, ho, wo, groups * 9)) if modulated else None
    expected = loop_deformable_conv(
        x, offsets, kernel, stride, pad, dilation, groups, mask
    )
    got = deformable_conv2d(
        tf.constant(x),
        tf.constant(offsets),
        tf.constant(kernel),
        strides=stride,
        padding=pad,
        dilation=dilation,
        deformable_groups=groups,
        mask=None if mask is None else tf.constant(mask),
        implementation=implementation,
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


@BOTH
@pytest.mark.parametrize("stride, dilation", [(1, 1), (1, 2), (2, 1), (2, 3)])
def test_zero_offsets_equal_regular_convolution(stride, dilation, implementation):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 11, 9, 6)), tf.float32)
    kernel = tf.constant(rng.normal(size=(3, 3, 6, 5)), tf.float32)
    pad = dilation
    ho = output_size(11, 3, stride, pad, dilation)
    wo = output_size(9, 3, stride, pad, dilation)
    got = deformable_conv2d(
        x,
        tf.zeros([2, ho, wo, 18]),
        kernel,
        strides=stride,
        padding=pad,
        dilation=dilation,
        implementation=implementation,
    )
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    expected = tf.nn.conv2d(
        padded, kernel, strides=stride, padding="VALID", dilations=dilation
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


@BOTH
def test_integer_offsets_shift_the_samples(implementation):
    x = tf.reshape(tf.range(25, dtype=tf.float32), [1, 5, 5, 1])
    kernel = tf.ones([1, 1, 1, 1])
    shift_down = tf.tile(tf.constant([1.0, 0.0])[None, None, None, :], [1, 5, 5, 1])
    got = deformable_conv2d(x, shift_down, kernel, implementation=implementation)
    got = got[0, :, :, 0].numpy()
    expected = np.vstack([np.arange(5, 25).reshape(4, 5), np.zeros((1, 5))])
    np.testing.assert_array_equal(got, expected)


@BOTH
def test_samples_at_the_border(implementation):
    x = tf.ones([1, 3, 3, 1])
    kernel = tf.ones([1, 1, 1, 1])

    def sample(dy, dx):
        offsets = tf.constant([[[[dy, dx]]]], tf.float32)
        out = deformable_conv2d(
            x[:, :1, :1], offsets, kernel, implementation=implementation
        )
        return float(out[0, 0, 0, 0])

    assert sample(-1.0, 0.0) == 0.0  # y <= -1: nothing
    assert sample(-0.25, 0.0) == pytest.approx(0.75)  # the outside corner counts 0
    assert sample(0.0, -0.5) == pytest.approx(0.5)


@BOTH
def test_gradients_match_numeric_float64(implementation):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(1, 4, 4, 2)))
    kernel = tf.constant(rng.normal(size=(3, 3, 2, 2)))
    # Keep samples off integer positions, where bilinear weights have kinks.
    offsets = tf.constant(rng.uniform(-1, 1, size=(1, 4, 4, 36)) * 0.8 + 0.1)
    mask = tf.constant(rng.uniform(0.2, 1, size=(1, 4, 4, 18)))

    @tf.function
    def function(x, offsets, kernel, mask):
        return deformable_conv2d(
            x,
            offsets,
            kernel,
            padding=1,
            deformable_groups=2,
            mask=mask,
            implementation=implementation,
        )

    theoretical, numerical = tf.test.compute_gradient(
        function, [x, offsets, kernel, mask], delta=1e-6
    )
    for analytic, numeric in zip(theoretical, numerical, strict=True):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_layer_shapes_and_saving(tmp_path):
    features = keras.Input((None, None, 8))
    offsets = keras.layers.Conv2D(2 * 2 * 9, 3, padding="same")(features)
    layer = DeformableConv2D(
        6,
        3,
        strides=1,
        padding=2,
        dilation_rate=2,
        deformable_groups=2,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="ones",
        name="dcn",
    )
    model = keras.Model(features, layer([features, offsets]))
    x = np.random.default_rng(0).normal(size=(2, 9, 7, 8)).astype("float32")
    assert model(x).shape == (2, 9, 7, 6)
    path = tmp_path / "dcn.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)


def test_layer_serialization_keeps_every_argument():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 9, 7, 8)).astype("float32")
    offsets = rng.normal(size=(2, 5, 4, 2 * 2 * 9)).astype("float32")  # stride 2
    assert_serialization_round_trip(
        DeformableConv2D,
        dict(
            filters=6,
            kernel_size=3,
            strides=2,
            padding=2,
            dilation_rate=2,
            deformable_groups=2,
            use_bias=True,
            kernel_initializer=keras.initializers.GlorotUniform(seed=2),
            bias_initializer=keras.initializers.Constant(0.5),
            name="dcn",
        ),
        [features, offsets],
        atol=1e-5,
    )


def test_layer_rejects_indivisible_groups():
    layer = DeformableConv2D(4, 3, padding=1, deformable_groups=3)
    with pytest.raises(ValueError, match="not divisible by deformable_groups=3"):
        layer([keras.Input((5, 5, 8)), keras.Input((5, 5, 54))])
