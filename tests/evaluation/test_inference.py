"""The one inference function against a plain reference of SPEC §4's protocol."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdeeplab.evaluation.inference import (
    InferenceSettings,
    predict_probabilities,
    tile_starts,
    window_stride,
)
from tfdeeplab.models import build_model


class PositionModel(keras.Model):
    """Logits that depend on the pixel and on its place in the tile it is given.

    A tiled prediction differs from the whole-image one wherever tiles overlap, by
    amounts the reference below can compute.
    """

    def call(self, images, training=None):
        shape = tf.shape(images)
        rows = tf.cast(tf.range(shape[1]), tf.float32)[None, :, None]
        cols = tf.cast(tf.range(shape[2]), tf.float32)[None, None, :]
        return tf.stack(
            [
                images[..., 0] + 0.3 * rows,
                images[..., 1] - 0.2 * cols,
                images[..., 2] + 0.0 * rows * cols,
            ],
            axis=-1,
        )


def softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def reference_starts(length, window, stride):
    """The seed's loop: a tile every `stride`, the last one ending at the border."""
    starts, start = [], 0
    while True:
        starts.append(min(start, max(length - window, 0)))
        if start + window >= length:
            return starts
        start += stride


def reference(model, image, scales, window, fraction, flip):
    """SPEC §4 written out with loops, one tile at a time."""
    height, width = image.shape[:2]
    total, variants = 0.0, 0
    for scale in scales:
        for flipped in (False, True) if flip else (False,):
            scaled = image
            if scale != 1.0:
                size = [max(1, round(height * scale)), max(1, round(width * scale))]
                scaled = tf.image.resize(image, size).numpy()
            if flipped:
                scaled = scaled[:, ::-1]
            h, w = scaled.shape[:2]
            canvas = (max(h, window[0]), max(w, window[1]))
            padded = np.zeros((*canvas, 3), np.float32)
            padded[:h, :w] = scaled
            sums = np.zeros((*canvas, 3))
            counts = np.zeros(canvas)
            stride = [math.ceil(round(fraction * side, 9)) for side in window]
            for y in reference_starts(h, window[0], stride[0]):
                for x in reference_starts(w, window[1], stride[1]):
                    tile = padded[None, y : y + window[0], x : x + window[1]]
                    sums[y : y + window[0], x : x + window[1]] += softmax(
                        np.asarray(model(tile))[0]
                    )
                    counts[y : y + window[0], x : x + window[1]] += 1
            probabilities = (sums / counts[..., None])[:h, :w]
            if flipped:
                probabilities = probabilities[:, ::-1]
            if scale != 1.0:
                probabilities = tf.image.resize(probabilities, [height, width]).numpy()
            total += probabilities
            variants += 1
    return total / variants


def random_image(height, width, seed=0):
    return np.random.default_rng(seed).normal(size=(height, width, 3)).astype("float32")


@pytest.mark.parametrize(
    "length, window, stride, expected",
    [
        (500, 321, 214, [0, 179]),
        (321, 321, 214, [0]),
        (322, 321, 214, [0, 1]),
        (100, 321, 214, [0]),
        (2048, 1024, 683, [0, 683, 1024]),
        (1, 321, 214, [0]),
    ],
)
def test_border_tiles_are_shifted_inward(length, window, stride, expected):
    assert tile_starts(tf.constant(length), window, stride).numpy().tolist() == expected
    assert reference_starts(length, window, stride) == expected


def test_the_seeds_stride_is_two_thirds_rounded_up():
    assert window_stride(321, 2 / 3) == 214 and window_stride(1024, 2 / 3) == 683
    assert window_stride(10, 1.0) == 10 and window_stride(2, 0.01) == 1


@pytest.mark.parametrize(
    "size, window, scales, flip",
    [
        ((20, 23), (7, 9), (1.0,), False),  # overlaps on both axes
        ((20, 23), (7, 9), (1.0,), True),
        ((20, 23), (7, 9), (0.6, 1.0, 1.3), True),
        ((5, 30), (7, 9), (1.0,), False),  # shorter than the window: padded
        ((1, 1), (7, 9), (0.9, 1.1), False),
        ((33, 51), (32, 32), (0.9, 1.0, 1.1), False),
    ],
)
def test_tiling_scales_and_flip_match_the_reference(size, window, scales, flip):
    model = PositionModel()
    image = random_image(*size)
    settings = InferenceSettings(scales=scales, window=window, flip=flip, tile_batch=3)
    got = predict_probabilities(model, image, settings).numpy()
    want = reference(model, image, scales, window, 2 / 3, flip)
    assert got.shape == (*size, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-5)


def test_no_pixel_is_named_twice_in_one_in_place_addition(monkeypatch):
    """On a GPU `InplaceAdd` adds one call's rows in parallel without atomics, so
    a repeated index would lose additions there (the CPU adds them in order, so
    the reference comparison above cannot see it): overlapping tiles of a batch,
    and the positions past a scaled tile's reach, must each be a call apart."""
    calls = []
    in_place_add = tf.raw_ops.InplaceAdd

    def checked(x, i, v, name=None):
        calls.append(i)
        return in_place_add(x=x, i=i, v=v, name=name)

    monkeypatch.setattr(tf.raw_ops, "InplaceAdd", checked)
    model, image = PositionModel(), random_image(20, 23)
    for scales in ((1.0,), (0.6, 1.3)):
        settings = InferenceSettings(
            scales=scales, window=(7, 9), flip=True, tile_batch=4
        )
        got = predict_probabilities(model, image, settings).numpy()
        want = reference(model, image, scales, (7, 9), 2 / 3, True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(calls) > 20  # one a tile: 3 x 4 tiles a variant, and more scaled
    for indices in calls:
        indices = indices.numpy()
        assert indices.size and np.unique(indices).size == indices.size


def test_overlaps_average_and_flips_change_position_dependent_outputs():
    """Guards for the test above: tiling and flipping do change this model's output."""
    model, image = PositionModel(), random_image(20, 23)
    whole = predict_probabilities(model, image, InferenceSettings()).numpy()
    tiled = predict_probabilities(model, image, InferenceSettings(window=(7, 9)))
    flipped = predict_probabilities(model, image, InferenceSettings(flip=True))
    assert not np.allclose(whole, tiled.numpy(), atol=1e-3)
    assert not np.allclose(whole, flipped.numpy(), atol=1e-3)


def test_a_window_covering_the_image_is_the_whole_image_forward_pass(
    tiny_model_config,
):
    model = build_model(tiny_model_config)
    image = random_image(65, 65)
    expected = tf.nn.softmax(model(image[None], training=False)[0]).numpy()
    for settings in (InferenceSettings(window=(65, 65)), InferenceSettings()):
        got = predict_probabilities(model, image, settings).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_large_odd_images_through_a_real_model_in_one_trace(tiny_model_config):
    model = build_model(tiny_model_config)
    settings = InferenceSettings(
        scales=(0.9, 1.0), window=(65, 65), flip=True, tile_batch=5
    )
    predict = tf.function(
        lambda image: predict_probabilities(model, image, settings),
        input_signature=[tf.TensorSpec([None, None, 3], tf.float32)],
    )
    for size in ((1, 1), (133, 97), (40, 170)):
        probabilities = predict(random_image(*size)).numpy()
        assert probabilities.shape == (*size, 5)
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert predict.experimental_get_tracing_count() == 1
