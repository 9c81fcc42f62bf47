"""Whole-image validation: the confusion it counts and the panels it draws."""

import keras
import numpy as np
import tensorflow as tf

from tfdeeplab.catalog.palettes import voc_palette
from tfdeeplab.training.validation import pad_panels, validate


class ChannelClassifier(keras.Model):
    """Predicts class round(image[..., 0]): a model whose answers the test knows."""

    def call(self, images, training=None):
        classes = keras.ops.cast(keras.ops.round(images[..., 0]), "int32")
        return keras.ops.one_hot(classes, 3) * 10.0


def example(label, predicted, size):
    label = np.full(size, label, np.int32)
    label[0, 0] = 255  # ignored pixels never count
    image = np.zeros((*size, 3), np.float32)
    image[..., 0] = predicted
    rgb = np.full((*size, 3), 7, np.uint8)
    return {"image": image, "rgb": rgb, "label": label, "id": "x"}


def dataset(examples):
    return tf.data.Dataset.from_generator(
        lambda: iter(examples),
        output_signature={
            "image": tf.TensorSpec([None, None, 3], tf.float32),
            "rgb": tf.TensorSpec([None, None, 3], tf.uint8),
            "label": tf.TensorSpec([None, None], tf.int32),
            "id": tf.TensorSpec([], tf.string),
        },
    )


def test_scores_every_pixel_and_draws_panels():
    examples = [example(1, 1, (4, 5)), example(2, 1, (3, 6)), example(0, 0, (2, 2))]
    result = validate(
        ChannelClassifier(), dataset(examples), 3, voc_palette(), panels=2
    )
    assert result.images == 3
    # class 0: 3 right; class 1: 19 right, 17 class-2 pixels predicted 1.
    np.testing.assert_allclose(result.metrics["class_iou"], [1.0, 19 / 36, 0.0])
    assert result.metrics["pixel_accuracy"] == (3 + 19) / (3 + 19 + 17)
    assert len(result.panels) == 2
    first = result.panels[0]
    assert first.shape == (4, 15, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first[:, :5], 7)  # the input as it was decoded
    np.testing.assert_array_equal(first[1, 5:10], np.tile(voc_palette()[1], (5, 1)))
    np.testing.assert_array_equal(first[0, 5], voc_palette()[255])  # void drawn


def test_max_images_limits_the_pass():
    examples = [example(1, 1, (4, 4))] * 5
    result = validate(
        ChannelClassifier(), dataset(examples), 3, voc_palette(), max_images=2
    )
    assert result.images == 2 and result.panels == []


def test_panels_of_different_sizes_are_padded_into_one_batch():
    panels = [np.ones((2, 3, 3), np.uint8), np.full((4, 1, 3), 2, np.uint8)]
    batch = pad_panels(panels)
    assert batch.shape == (2, 4, 3, 3)
    assert batch[0, :2].min() == 1 and batch[0, 2:].max() == 0
    assert batch[1, :, :1].min() == 2 and batch[1, :, 1:].max() == 0
