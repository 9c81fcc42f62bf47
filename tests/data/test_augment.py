"""The reference augmentation (SPEC §3): its random choices and each step."""

import dataclasses

import numpy as np
import tensorflow as tf

from tests.helpers import SEED_AUGMENTATION as SEED
from tfdeeplab.data.augment import augment, sample_geometry, sample_scales

PLAIN = dataclasses.replace(
    SEED,
    crop_size=(16, 20),
    scale_range=(1.0, 1.0),
    flip_probability=0.0,
    channel_order="rgb",
    mean=(0.0, 0.0, 0.0),
)


def random_example(height=40, width=50, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    label = rng.integers(0, 21, (height, width, 1)).astype(np.uint8)
    return tf.constant(image), tf.constant(label)


def test_resize_factors_follow_the_rejection_rule():
    draws = np.array(
        [
            sample_scales(tf.constant([s, 1], tf.int64), (0.7, 1.5), 0.15, 50).numpy()
            for s in range(300)
        ]
    )
    assert np.all((draws >= 0.7) & (draws <= 1.5))
    assert np.all(np.abs(draws[:, 1] / draws[:, 0] - 1) < 0.15)
    assert draws[:, 0].std() > 0.15  # the scales really vary
    never = sample_scales(tf.constant([0, 1], tf.int64), (0.7, 1.5), 0.0, 50).numpy()
    np.testing.assert_array_equal(never, [1.0, 1.0])  # 50 rejections: no resize
    np.testing.assert_array_equal(
        sample_scales(tf.constant([0, 1], tf.int64), (0.7, 1.5), 0.15, 0), [1, 1]
    )


def test_geometry_is_a_function_of_the_seed_within_its_ranges():
    augmentation = dataclasses.replace(SEED, crop_size=(64, 64))
    size = tf.constant([40, 90])
    seen = set()
    for index in range(40):
        seed = tf.constant([3, index], tf.int64)
        geometry = sample_geometry(seed, size, augmentation)
        again = sample_geometry(seed, size, augmentation)
        for chosen, rechosen in zip(geometry, again, strict=True):
            np.testing.assert_array_equal(chosen.numpy(), rechosen.numpy())
        height, width = geometry.new_size.numpy()
        assert 0.7 * 40 - 0.5 <= height <= 1.5 * 40 + 0.5
        assert 0.7 * 90 - 0.5 <= width <= 1.5 * 90 + 0.5
        canvas = np.maximum([height, width], 64)
        assert 0 <= int(geometry.top) <= canvas[0] - 64
        assert 0 <= int(geometry.left) <= canvas[1] - 64
        seen.add(
            (height, width, int(geometry.top), int(geometry.left), bool(geometry.flip))
        )
    assert len(seen) == 40  # every seed chose differently
    assert {flip for *_, flip in seen} == {True, False}


def test_without_resize_or_flip_the_crop_is_a_window_of_the_image():
    image, label = random_example()
    for index in range(5):
        seed = tf.constant([1, index], tf.int64)
        top, left = (int(t) for t in sample_geometry(seed, [40, 50], PLAIN)[1:3])
        got_image, got_label = augment(image, label, seed, PLAIN)
        np.testing.assert_array_equal(
            got_image.numpy(), image.numpy()[top : top + 16, left : left + 20]
        )
        np.testing.assert_array_equal(
            got_label.numpy(), label.numpy()[top : top + 16, left : left + 20, 0]
        )
        assert got_label.dtype == tf.int32 and got_image.dtype == tf.float32


def test_a_flip_mirrors_image_and_label_of_the_same_crop():
    image, label = random_example(seed=1)
    seed = tf.constant([2, 5], tf.int64)
    kept = augment(image, label, seed, PLAIN)
    flipped = augment(
        image, label, seed, dataclasses.replace(PLAIN, flip_probability=1.0)
    )
    for a, b in zip(kept, flipped, strict=True):
        np.testing.assert_array_equal(a.numpy()[:, ::-1], b.numpy())


def test_small_images_are_padded_centred_with_the_pad_value():
    image, label = random_example(height=10, width=14)
    augmentation = dataclasses.replace(PLAIN, pad_value=200)
    got_image, got_label = augment(image, label, tf.constant([0, 0]), augmentation)
    inside = np.zeros((16, 20), bool)
    inside[3:13, 3:17] = True  # top = (16 - 10) // 2, left = (20 - 14) // 2
    np.testing.assert_array_equal(
        got_label.numpy()[inside], label.numpy()[..., 0].ravel()
    )
    assert np.all(got_label.numpy()[~inside] == 200)
    assert np.all(got_image.numpy()[~inside] == 200.0)


def test_channel_order_and_mean():
    image, label = random_example()
    bgr = dataclasses.replace(PLAIN, channel_order="bgr", mean=(1.0, 2.0, 3.0))
    seed = tf.constant([4, 4], tf.int64)
    rgb_crop, _ = augment(image, label, seed, PLAIN)
    bgr_crop, _ = augment(image, label, seed, bgr)
    np.testing.assert_array_equal(
        bgr_crop.numpy(), rgb_crop.numpy()[..., ::-1] - [1, 2, 3]
    )
