"""The fast crop sampler equals the step-by-step reference augmentation."""

import dataclasses
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import SEED_AUGMENTATION as SEED
from tfdeeplab.data.augment import augment
from tfdeeplab.data.crop_sampler import sample_crop


def encode(image, image_format):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("use_kernel", [True, False], ids=["kernel", "tf_ops"])
@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("crop_size", [(33, 33), (64, 48)])
def test_fast_path_equals_reference(image_format, interpolation, crop_size, use_kernel):
    rng = np.random.default_rng(0)
    # 45x60 source: crops both larger and smaller than the resized image.
    smooth = np.kron(rng.integers(0, 255, (9, 12, 3)), np.ones((5, 5, 1))).astype(
        np.uint8
    )
    label = np.kron(rng.integers(0, 21, (9, 12)), np.ones((5, 5))).astype(np.uint8)[
        ..., None
    ]
    encoded = encode(smooth, image_format)
    decoded = tf.io.decode_image(
        encoded, channels=3
    )  # the reference sees the same pixels
    augmentation = dataclasses.replace(
        SEED, crop_size=crop_size, image_interpolation=interpolation
    )
    never_flip = dataclasses.replace(augmentation, flip_probability=0.0)
    flips = set()
    for index in range(12):
        seed = tf.constant([7, index], tf.int64)
        want_image, want_label = augment(decoded, label, seed, augmentation)
        got_image, got_label = sample_crop(
            tf.constant(encoded), label, seed, augmentation, use_kernel=use_kernel
        )
        np.testing.assert_array_equal(got_label.numpy(), want_label.numpy())
        # JPEG too (its window is decoded with a margin); bilinear weights round apart.
        np.testing.assert_allclose(got_image.numpy(), want_image.numpy(), atol=0.02)
        unflipped = augment(decoded, label, seed, never_flip)[1]
        flips.add(not np.array_equal(got_label.numpy(), unflipped.numpy()))
    assert flips == {True, False}  # flipped and unflipped crops were both compared
