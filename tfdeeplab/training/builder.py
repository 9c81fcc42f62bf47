"""The one place where a recipe's `train` section becomes training objects.

`build_training_state` makes everything a training step needs from a recipe and a
strategy (model, schedule, optimizer, step counter, `TrainStep`); the trainer and the
step benchmark both use it, so they measure and run the same thing. Below this module
everything takes plain arguments.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from tfdeeplab import shard_format
from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup
from tfdeeplab.config.schema import Recipe, TrainConfig
from tfdeeplab.models import build_model, weight_multipliers
from tfdeeplab.training.losses import build_pixel_loss, class_weight_vector
from tfdeeplab.training.schedules import (
    PiecewiseEpochSchedule,
    PolySchedule,
    iterations_per_epoch,
)
from tfdeeplab.training.step import TrainStep


def total_steps(config: TrainConfig, num_images: int, global_batch: int) -> int:
    """Steps of a whole run: `max_steps` if set, else last_epoch * iterations_per_epoch.

    Example:
        >>> total_steps(load_recipe("voc").train, 10582, 10)
        33856
    """
    if config.max_steps:
        return config.max_steps
    per_epoch = iterations_per_epoch(num_images, global_batch, config.epoch_scale)
    return math.floor(config.last_epoch * per_epoch)


def build_schedule(
    config: TrainConfig, num_images: int, global_batch: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule a recipe's `train` section describes, for the run's global batch.

    Args:
        config: TrainConfig. `recipe.train`.
        num_images: int. Images in the training split.
        global_batch: int. Batch size per replica times replicas.

    Returns:
        PiecewiseEpochSchedule or PolySchedule.

    Example:
        >>> build_schedule(recipe.train, 10582, 10)(21160)  # lr after epoch 5
    """
    make = lookup(SCHEDULES, config.schedule.type, "train.schedule.type")
    return make(config, num_images, global_batch)


def _piecewise(config: TrainConfig, num_images: int, global_batch: int):
    """The seed's steps in scaled epochs (SPEC §3)."""
    per_epoch = iterations_per_epoch(num_images, global_batch, config.epoch_scale)
    return PiecewiseEpochSchedule(config.schedule.piecewise_steps, per_epoch)


def _poly(config: TrainConfig, num_images: int, global_batch: int):
    """DeepLab v2's base * (1 - step / total) ** power."""
    schedule = config.schedule
    return PolySchedule(
        schedule.base_learning_rate,
        total_steps(config, num_images, global_batch),
        schedule.power,
    )


SCHEDULES = implemented(
    choices.SCHEDULE_TYPES, {"piecewise": _piecewise, "poly": _poly}
)
# Whether a precision's gradients need dynamic loss scaling (float16's range).
LOSS_SCALED = implemented(
    choices.MIXED_PRECISIONS,
    {"float32": False, "mixed_float16": True, "mixed_bfloat16": False},
)


def build_optimizer(
    config: TrainConfig,
    schedule: keras.optimizers.schedules.LearningRateSchedule | float,
    step: tf.Variable | None = None,
) -> keras.optimizers.Optimizer:
    """Keras SGD with the recipe's momentum over `schedule` (decay goes in gradients).

    With `mixed_precision: mixed_float16` the SGD is wrapped in a dynamic
    LossScaleOptimizer; bfloat16 needs no loss scaling.

    Args:
        config: TrainConfig. Momentum and mixed precision.
        schedule: LearningRateSchedule, or a float.
        step: integer variable or None. The run's step (steps completed). When
            given, the learning rate is `schedule(step)`; otherwise
            `schedule(optimizer.iterations)`, which stops counting on the steps a
            float16 loss scaler skips for overflowed gradients.

    Returns:
        keras.optimizers.SGD, or a LossScaleOptimizer around it.

    Example:
        >>> schedule = build_schedule(recipe.train, 10582, 10)
        >>> optimizer = build_optimizer(recipe.train, schedule, step)
    """
    learning_rate = schedule
    if step is not None and callable(schedule):
        learning_rate = lambda: schedule(step)  # noqa: E731
    optimizer = keras.optimizers.SGD(
        learning_rate=learning_rate, momentum=config.momentum
    )
    if lookup(LOSS_SCALED, config.mixed_precision, "train.mixed_precision"):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@dataclasses.dataclass
class TrainingState:
    """Everything one training step reads and changes.

    Args:
        model: keras.Model. Returns the MSC dict when the recipe has scales.
        optimizer: keras optimizer, built over the model's trainable variables.
        step: tf.Variable (int64). Steps completed; drives the schedule, the input
            stream's position and resume.
        train_step: TrainStep. Runs one distributed step.
        global_batch: int. Images per step over all replicas.
        total_steps: int. Steps of the whole run.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    train_step: TrainStep
    global_batch: int
    total_steps: int

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step."""
        return float(self.optimizer.learning_rate)


def build_recipe_loss(recipe: Recipe):
    """The per-output loss of `recipe.train.loss`, with `train.class_weights` (a
    weighting from the training split's pixel counts in the shards' manifest).

    Raises:
        ManifestError: a weighting that needs the manifest's histogram, which the
            shards do not have (one line naming the file).

    Example:
        >>> pixel_loss = build_recipe_loss(load_recipe("custom"))
    """
    config = recipe.train
    weights = config.class_weights
    if isinstance(weights, str) and weights != "none":
        manifest = shard_format.read_manifest(recipe.data.root)
        entry = manifest[shard_format.SPLITS].get(recipe.data.train_split, {})
        if shard_format.CLASS_PIXELS not in entry:
            raise shard_format.ManifestError(
                f"{recipe.data.root}/{shard_format.MANIFEST}: no class_pixels of "
                f"split {recipe.data.train_split}, which train.class_weights "
                f"{weights} needs (convert the data again)"
            )
        pixels = entry[shard_format.CLASS_PIXELS]
        weights = class_weight_vector(
            weights,
            pixels,
            entry.get(shard_format.CLASS_IMAGES, [1] * len(pixels)),
            entry.get(shard_format.NUM_IMAGES, 1),
        )
    return build_pixel_loss(
        config.loss,
        class_weight_vector(weights, [], [], 0),
        ohem_threshold=config.ohem_threshold,
        ohem_min_kept=config.ohem_min_kept,
    )


def build_training_state(
    recipe: Recipe, strategy: tf.distribute.Strategy
) -> TrainingState:
    """Model, schedule, optimizer and train step for `recipe` under `strategy`.

    The global batch is `recipe.train.batch_size` (per replica) times the
    strategy's replicas; the schedule's iterations per epoch follow it (SPEC §3).
    Seeds Keras' initialisers with `recipe.train.seed`.

    Args:
        recipe: Recipe. Reads `model`, `train` and `data.num_train_images` /
            `data.ignore_label`.
        strategy: tf.distribute.Strategy the variables are created under.

    Returns:
        TrainingState with the step at 0 and freshly initialised weights.

    Example:
        >>> state = build_training_state(recipe, tf.distribute.get_strategy())
        >>> loss = state.train_step(batch)
    """
    config = recipe.train
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    num_images = recipe.data.num_train_images
    keras.utils.set_random_seed(config.seed)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    with strategy.scope():
        model = build_model(
            recipe.model,
            include_scale_logits=bool(recipe.model.msc_scales),
            dtype_policy=config.mixed_precision,  # a Keras dtype policy name
        )
        schedule = build_schedule(config, num_images, global_batch)
        optimizer = build_optimizer(config, schedule, step)
        optimizer.build(model.trainable_variables)
    train_step = TrainStep(
        strategy,
        model,
        optimizer,
        weight_multipliers(model),
        weight_decay=config.weight_decay,
        gradient_reduction=config.gradient_reduction,
        ignore_label=recipe.data.ignore_label,
        jit_compile=config.jit_compile,
        pixel_loss=build_recipe_loss(recipe),
    )
    return TrainingState(
        model=model,
        optimizer=optimizer,
        step=step,
        train_step=train_step,
        global_batch=global_batch,
        total_steps=total_steps(config, num_images, global_batch),
    )
