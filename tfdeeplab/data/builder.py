"""The one place where a recipe's `data` section becomes input pipelines."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfdeeplab.config.schema import DataConfig, Recipe
from tfdeeplab.data.augment import Augmentation
from tfdeeplab.data.pipeline import evaluation_images, training_batches
from tfdeeplab.data.records import record_counts
from tfdeeplab.ops.crop_resample import crop_resample_available


def augmentation_from_recipe(data: DataConfig) -> Augmentation:
    """The SPEC §3 augmentation a recipe's `data` section describes.

    Example:
        >>> augmentation_from_recipe(load_recipe("voc").data).crop_size
        (321, 321)
    """
    return Augmentation(
        crop_size=tuple(data.crop_size),
        scale_range=tuple(data.scale_range),
        aspect_ratio_tolerance=data.aspect_ratio_tolerance,
        max_resize_attempts=data.max_resize_attempts,
        image_interpolation=data.image_interpolation,
        pad_value=data.pad_value,
        flip_probability=data.flip_probability,
        channel_order=data.channel_order,
        mean=tuple(data.mean),
    )


def train_dataset(
    recipe: Recipe,
    files: Sequence[str],
    input_context: tf.distribute.InputContext | None = None,
    *,
    repeat: bool = True,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Training batches of a recipe's training split (see `training_batches`).

    Under a tf.distribute strategy pass the `input_context` that
    `strategy.distribute_datasets_from_function` gives; batches hold
    `recipe.train.batch_size` images, the per-replica batch.

    Args:
        recipe: Recipe. Reads `data` (augmentation, shuffle buffer, determinism,
            ignore label) and `train` (batch size, seed).
        files: the training split's shards (`Experiment.shard_files`).
        input_context: tf.distribute.InputContext or None.
        repeat: bool. Cycle through the data forever; False for one pass.
        start_step: int. Training steps already taken (a resumed run).

    Returns:
        tf.data.Dataset of (images float32 [B, crop_h, crop_w, 3], labels int32
        [B, crop_h, crop_w]).

    Example:
        >>> files = experiment.shard_files(recipe.data.train_split)
        >>> dataset = strategy.distribute_datasets_from_function(
        ...     lambda context: train_dataset(recipe, files, context))
    """
    data = recipe.data
    return training_batches(
        files,
        record_counts(files),
        augmentation=augmentation_from_recipe(data),
        batch_size=recipe.train.batch_size,
        seed=recipe.train.seed,
        shuffle_buffer=data.shuffle_buffer,
        deterministic=data.deterministic,
        ignore_label=data.ignore_label,
        input_context=input_context,
        repeat=repeat,
        start_step=start_step,
        use_kernel=crop_resample_available(),
    )


def eval_dataset(recipe: Recipe, files: Sequence[str]) -> tf.data.Dataset:
    """Whole evaluation images of a split's shards (see `evaluation_images`).

    Args:
        recipe: Recipe. Reads `data` (channel order, mean, ignore label).
        files: the split's shards (`Experiment.shard_files`).

    Returns:
        tf.data.Dataset of dicts with `image`, `rgb`, `label` and `id`.

    Example:
        >>> images = eval_dataset(recipe, experiment.shard_files("val"))
    """
    data = recipe.data
    return evaluation_images(
        list(files),
        channel_order=data.channel_order,
        mean=data.mean,
        ignore_label=data.ignore_label,
    )
