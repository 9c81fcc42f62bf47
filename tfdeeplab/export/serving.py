"""The SavedModel's root object: the model, its normalisation and two signatures.

`SegmentationServer` wraps a Keras model with everything inference needs in the
graph, so that a consumer sends plain RGB pixels (or encoded image files) and gets
label maps back, without tfdeeplab:

- `serving_default(images)`: uint8 [N, H, W, 3] RGB, N, H and W dynamic. Each image
  is normalised (the recipe's channel order and mean) and goes through
  `predict_probabilities` (the evaluation's one inference function: scales, sliding
  window, flip). Returns `labels` int32 [N, H, W] and `probabilities` float32
  [N, H, W, C].
- `serving_bytes(image_bytes)`: string [N], encoded JPEG or PNG images of one size
  (TensorFlow Serving's REST API sends them as `{"b64": ...}`), decoded to RGB, then
  as `serving_default`.

Input the signatures cannot take (an empty image; images of different sizes in one
`serving_bytes` request; bytes that are no image) fails with an error that says
what was expected; so does a wrong rank or channel count (a loaded signature does
not check shapes, so the graph does: "expected shape [?,?,?,3]") and a wrong dtype
(refused by the signature, naming uint8).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from tfdeeplab.data.augment import normalize
from tfdeeplab.evaluation.inference import InferenceSettings, predict_probabilities
from tfdeeplab.ops.deformable_conv import set_deformable_implementation

IMAGES_SPEC = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
BYTES_SPEC = tf.TensorSpec([None], tf.string, name="image_bytes")


class SegmentationServer(tf.Module):
    """A model with its inference settings, as the SavedModel's root.

    With `portable` (for export) its deformable convolutions are set to the
    pure-TensorFlow reference (the C++ kernels are a library of tfdeeplab's own,
    which a SavedModel cannot carry), so the export loads anywhere.

    Args:
        model: keras.Model from `build_model`, weights loaded.
        settings: InferenceSettings. Scales, window, flip, tile batch.
        channel_order: str. `rgb` or `bgr`, what the model was trained on.
        mean: (3,) floats subtracted after reordering the channels.
        num_classes: int.
        portable: bool. Use the pure-TensorFlow deformable convolution. Defaults
            to True.

    Example:
        >>> server = SegmentationServer(model, settings, "bgr", (104.0, 116.0, 122.0),
        ...                             21)
        >>> outputs = server.serving_default(tf.zeros([1, 64, 64, 3], tf.uint8))
        >>> outputs["labels"].shape
        TensorShape([1, 64, 64])
    """

    def __init__(
        self,
        model: keras.Model,
        settings: InferenceSettings,
        channel_order: str,
        mean: Sequence[float],
        num_classes: int,
        portable: bool = True,
    ):
        super().__init__(name="segmentation_server")
        if portable:
            set_deformable_implementation(model, "reference")
        self.model = model
        self.settings = settings
        self._channel_order = channel_order
        self._mean = tuple(float(value) for value in mean)
        self._num_classes = num_classes
        self.serving_default = tf.function(
            self._segment_images, input_signature=[IMAGES_SPEC]
        )
        self.serving_bytes = tf.function(
            self._segment_bytes, input_signature=[BYTES_SPEC]
        )

    def probabilities(self, rgb: tf.Tensor) -> tf.Tensor:
        """Class probabilities float32 [H, W, C] of one uint8 RGB image [H, W, 3]:
        the recipe's normalisation, then `predict_probabilities`."""
        image = normalize(rgb, self._channel_order, self._mean)
        return predict_probabilities(self.model, image, self.settings)

    def _segment_images(self, images: tf.Tensor) -> dict:
        # A loaded signature does not check shapes: the graph does, at run time.
        images = tf.ensure_shape(images, IMAGES_SPEC.shape)
        shape = tf.shape(images)
        check = tf.debugging.Assert(
            tf.logical_and(shape[1] > 0, shape[2] > 0),
            [
                "images: expected uint8 [N, H, W, 3] with H and W at least 1, got "
                "shape",
                shape,
            ],
        )
        # The check before the images are used: nothing orders a stateless op
        # (the resize of an empty image) after it otherwise, and it raced.
        with tf.control_dependencies([check]):
            images = tf.identity(images)
        probabilities = tf.map_fn(
            self.probabilities,
            images,
            fn_output_signature=tf.TensorSpec(
                [None, None, self._num_classes], tf.float32
            ),
        )
        probabilities = tf.reshape(
            probabilities, tf.concat([shape[:3], [self._num_classes]], 0)
        )
        labels = tf.argmax(probabilities, -1, output_type=tf.int32)
        return {"labels": labels, "probabilities": probabilities}

    def _segment_bytes(self, image_bytes: tf.Tensor) -> dict:
        image_bytes = tf.ensure_shape(image_bytes, BYTES_SPEC.shape)
        count = tf.shape(image_bytes)[0]
        first = tf.cond(
            count > 0,
            lambda: tf.shape(decode_rgb(image_bytes[0]))[:2],
            lambda: tf.zeros([2], tf.int32),
        )

        def decode(encoded):
            rgb = decode_rgb(encoded)
            size = tf.shape(rgb)[:2]
            tf.debugging.Assert(
                tf.reduce_all(tf.equal(size, first)),
                [
                    "image_bytes: expected the images of one request to have one size; "
                    "the first is (height, width)",
                    first,
                    "this one",
                    size,
                ],
            )
            return rgb

        images = tf.map_fn(
            decode,
            image_bytes,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
        images = tf.reshape(images, tf.concat([[count], first, [3]], 0))
        return self._segment_images(images)


def decode_rgb(encoded: tf.Tensor) -> tf.Tensor:
    """One encoded JPEG, PNG, GIF or BMP image as uint8 RGB [H, W, 3].

    Grey images gain three equal channels and an alpha channel is dropped; bytes
    that are no image fail with TensorFlow's "Unknown image file format" naming the
    formats it expects.
    """
    rgb = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    rgb.set_shape([None, None, 3])
    return rgb
