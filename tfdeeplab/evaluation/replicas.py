"""The inference function on every replica of a strategy: one image per replica.

Evaluation images differ in size, so they are not batched: under a strategy with R
replicas (MirroredStrategy over R GPUs, or two logical CPUs in the tests) each call
takes up to R images and runs `predict_probabilities` on replica i for image i, all
at once. A group shorter than R (the split's last) fills the idle replicas with a
1 x 1 image whose output is dropped. Each replica's output comes back to the host,
where the evaluator adds its pixels to the one confusion matrix: the replicas'
matrices summed.

With the default strategy (one device) a call is one `tf.function` with a dynamic
image shape, traced once.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from tfdeeplab.catalog.choices import lookup
from tfdeeplab.evaluation.inference import InferenceSettings, predict_probabilities

# What a replica returns of an image's probabilities [H, W, C].
OUTPUTS = {
    "labels": lambda probabilities: tf.argmax(probabilities, -1, output_type=tf.int32),
    "probabilities": lambda probabilities: probabilities,
}


class ReplicatedInference:
    """Images to label maps (or probabilities), one image per replica per call.

    Args:
        model: keras.Model, built under `strategy.scope()` when the strategy has
            several replicas.
        settings: InferenceSettings.
        output: str. `labels` (int32 [H, W], the argmax taken in the graph) or
            `probabilities` (float32 [H, W, C]). Defaults to `labels`.
        strategy: tf.distribute.Strategy or None for the default strategy.

    Example:
        >>> infer = ReplicatedInference(model, settings, strategy=strategy)
        >>> label_maps = infer([example["image"] for example in group])
    """

    def __init__(
        self,
        model: keras.Model,
        settings: InferenceSettings,
        *,
        output: str = "labels",
        strategy: tf.distribute.Strategy | None = None,
    ):
        finish = lookup(OUTPUTS, output, "output")
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self._output = output

        def infer(image):
            return finish(predict_probabilities(model, image, settings))

        if self.replicas == 1:
            self._infer_one = tf.function(
                infer, input_signature=[tf.TensorSpec([None, None, 3], tf.float32)]
            )
        else:
            strategy = self.strategy

            # Per-replica inputs carry their own shapes; after the first sizes the
            # trace generalises to [None, None, 3] instead of tracing every size.
            @tf.function(reduce_retracing=True)
            def infer_replicas(images):
                return strategy.run(infer, args=(images,))

            self._infer_replicas = infer_replicas

    def __call__(self, images: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Outputs of up to `replicas` normalised images [H, W, 3], in order.

        Raises:
            ValueError: more images than replicas.
        """
        if len(images) > self.replicas:
            raise ValueError(f"{len(images)} images for {self.replicas} replicas")
        if self.replicas == 1:
            return [self._infer_one(image) for image in images]
        filler = tf.zeros([1, 1, 3], tf.float32)
        slots = list(images) + [filler] * (self.replicas - len(images))
        distributed = self.strategy.experimental_distribute_values_from_function(
            lambda context: tf.convert_to_tensor(
                slots[context.replica_id_in_sync_group], tf.float32
            )
        )
        outputs = self.strategy.experimental_local_results(
            self._infer_replicas(distributed)
        )
        return list(outputs[: len(images)])
