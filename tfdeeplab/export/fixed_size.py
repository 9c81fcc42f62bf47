"""The network at one fixed input size, for the formats that need one (TFLite, ONNX).

`FixedSizeNetwork.segment(image)` takes one uint8 RGB image [1, H, W, 3] at the
export's size, applies the recipe's channel order and mean, runs the network and
returns `labels` int32 [1, H, W] and `probabilities` float32 [1, H, W, C] at the
input size. It is one tile of SPEC §4's protocol: the sliding window, the scales
and the flip stay with the caller (README, "Deploying"). The deformable
convolutions are the pure-TensorFlow reference (gathers and arithmetic), which both
converters carry; tfdeeplab's own kernels cannot travel in a file.

`frozen_segment(network)` is the same function with the weights folded in as
constants, and the outputs still named, which is what the converters take.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from tfdeeplab.catalog.choices import lookup
from tfdeeplab.data.augment import CHANNEL_REVERSED
from tfdeeplab.ops.deformable_conv import set_deformable_implementation

INPUT_NAME = "image"
OUTPUT_NAMES = ("labels", "probabilities")


class FixedSizeNetwork(tf.Module):
    """A model with its normalisation, at one input size.

    Args:
        model: keras.Model from `build_model`, weights loaded. Its deformable
            convolutions are set to the reference implementation.
        size: (height, width) of the input.
        channel_order: str. `rgb` or `bgr`, what the model was trained on.
        mean: (3,) floats subtracted after reordering the channels.

    Example:
        >>> network = FixedSizeNetwork(model, (321, 321), "bgr", (104.0, 116.0, 122.0))
        >>> network.segment(tf.zeros([1, 321, 321, 3], tf.uint8))["labels"].shape
        TensorShape([1, 321, 321])
    """

    def __init__(
        self,
        model: keras.Model,
        size: tuple[int, int],
        channel_order: str,
        mean: Sequence[float],
    ):
        super().__init__(name="fixed_size_network")
        set_deformable_implementation(model, "reference")
        self.model = model
        self.size = (int(size[0]), int(size[1]))
        self._channel_order = channel_order
        self._mean = tuple(float(value) for value in mean)
        self.spec = tf.TensorSpec([1, *self.size, 3], tf.uint8, name=INPUT_NAME)
        self.segment = tf.function(self._segment, input_signature=[self.spec])

    def _normalised(self, image: tf.Tensor) -> tf.Tensor:
        """`data.augment.normalize`, with the channels reordered by a gather: TFLite's
        int8 REVERSE_V2 scrambles them (measured on the demo: 68% of the labels
        kept against 99% with the gather; the float values are the same)."""
        image = tf.cast(image, tf.float32)
        if lookup(CHANNEL_REVERSED, self._channel_order, "data.channel_order"):
            image = tf.gather(image, [2, 1, 0], axis=-1)
        return image - tf.constant(self._mean, tf.float32)

    def _segment(self, image: tf.Tensor) -> dict:
        logits = self.model(self._normalised(image), training=False)
        if isinstance(logits, dict):
            logits = logits["logits"]
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {
            "labels": tf.argmax(probabilities, -1, output_type=tf.int32),
            "probabilities": probabilities,
        }


def frozen_segment(network: FixedSizeNetwork):
    """`network.segment` with its variables as constants and its outputs named.

    Returns:
        (tf.function with the input signature, a tf.Module holding it): the
        converters read the signature from the module.

    Example:
        >>> function, holder = frozen_segment(network)
        >>> tf.lite.TFLiteConverter.from_concrete_functions(
        ...     [function.get_concrete_function()], holder)
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = network.segment.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    structure = concrete.structured_outputs

    @tf.function(input_signature=[network.spec])
    def segment(image):
        return tf.nest.pack_sequence_as(structure, frozen(image))

    holder = tf.Module()
    holder.segment = segment
    return segment, holder
