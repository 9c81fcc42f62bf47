"""One distributed SGD step: forward, loss, backward, the seed's update.

Every replica computes the valid-pixel mean loss of its own batch (SPEC §3). With
`gradient_reduction: sum` the replicas' gradients add up as in the seed's MXNet
kvstore; with `mean` they are averaged. Keras optimizers sum replica gradients in
`apply_gradients`, so `mean` divides each replica's loss by the replica count, and
the weight decay, which the seed adds once to the reduced gradient, enters each
replica's gradient as 1/replicas of itself.

The forward and backward pass can be compiled with XLA (`jit_compile`); the update
itself, which talks to the other replicas, runs outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup
from tfdeeplab.models.multipliers import Multipliers
from tfdeeplab.training.losses import segmentation_loss, valid_pixel_cross_entropy
from tfdeeplab.training.optimizer import scale_gradients


def _whole_loss(replicas: int) -> float:
    del replicas
    return 1.0


def _replica_share(replicas: int) -> float:
    return 1.0 / replicas


# What each replica's loss counts for, given the replicas: Keras sums the replicas'
# gradients, so `sum` keeps each loss whole and `mean` takes 1/replicas of it.
# Named functions, not lambdas: AutoGraph cannot read a lambda's source in a dict.
OBJECTIVE_SHARES = implemented(
    choices.GRADIENT_REDUCTIONS, {"sum": _whole_loss, "mean": _replica_share}
)


class TrainStep:
    """A callable running one training step on a distributed batch.

    Args:
        strategy: tf.distribute.Strategy the model and optimizer were built under.
        model: keras.Model returning logits or the dict of MSC outputs.
        optimizer: keras optimizer (a LossScaleOptimizer for float16), built.
        multipliers: dict from variable path to Multipliers (`weight_multipliers`).
        weight_decay: float. The recipe's weight decay.
        gradient_reduction: str. `sum` or `mean` across replicas.
        ignore_label: int. Label excluded from the loss.
        jit_compile: bool. Compile forward and backward with XLA.
        pixel_loss: `(labels, logits, ignore_label) -> scalar` of each output
            (`losses.build_pixel_loss`); None for the seed's cross-entropy.

    Example:
        >>> step = TrainStep(strategy, model, optimizer, weight_multipliers(model),
        ...                  weight_decay=5e-4, gradient_reduction="sum")
        >>> loss = step(next(distributed_iterator))  # mean of the replicas' losses
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        multipliers: Mapping[str, Multipliers],
        *,
        weight_decay: float,
        gradient_reduction: str = "sum",
        ignore_label: int = 255,
        jit_compile: bool = False,
        pixel_loss: Callable | None = None,
    ):
        self._objective_share = lookup(
            OBJECTIVE_SHARES, gradient_reduction, "train.gradient_reduction"
        )
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.multipliers = dict(multipliers)
        self.weight_decay = weight_decay
        self.gradient_reduction = gradient_reduction
        self.ignore_label = ignore_label
        self.pixel_loss = pixel_loss or valid_pixel_cross_entropy
        # A nested tf.function is a boundary no cross-replica synchronisation may
        # cross, so only the XLA build makes one.
        self._gradients = (
            tf.function(self._compute_gradients, jit_compile=True)
            if jit_compile
            else self._compute_gradients
        )
        self._step = tf.function(self._distributed_step)

    @property
    def _loss_scaled(self) -> bool:
        return isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)

    def _compute_gradients(self, images, labels):
        replicas = self.strategy.num_replicas_in_sync
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(images, training=True)
            loss = segmentation_loss(
                labels, outputs, self.ignore_label, self.pixel_loss
            )
            objective = loss * self._objective_share(replicas)
            if self._loss_scaled:
                objective = self.optimizer.scale_loss(objective)
        return loss, tape.gradient(objective, variables)

    def _replica_step(self, images, labels):
        variables = self.model.trainable_variables
        loss, gradients = self._gradients(images, labels)
        decay_scale = 1.0 / self.strategy.num_replicas_in_sync
        if self._loss_scaled:
            decay_scale = self.optimizer.dynamic_scale * decay_scale
        gradients = scale_gradients(
            gradients, variables, self.multipliers, self.weight_decay, decay_scale
        )
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    def _distributed_step(self, batch):
        images, labels = batch
        losses = self.strategy.run(self._replica_step, args=(images, labels))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    def __call__(self, batch) -> tf.Tensor:
        """Train on one distributed batch; returns the replicas' mean loss."""
        return self._step(batch)
