"""tf.data pipelines: augmented training batches (SPEC §3), whole eval images."""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.config.schema import Recipe
from tfdeeplab.data.augment import normalize
from tfdeeplab.data.crop_sampler import sample_crop
from tfdeeplab.data.records import (
    decode_label,
    decode_record,
    parse_record,
    record_counts,
    shard_files,
)
from tfdeeplab.ops.crop_resample import crop_resample_available

AUTOTUNE = tf.data.AUTOTUNE


def _epoch_records(
    files: list[str],
    counts: list[int],
    pipeline_id: int,
    num_pipelines: int,
    seed: int,
    shuffle_buffer: int,
    deterministic: bool,
):
    """This pipeline's records of one epoch as a function of the epoch's index.

    Each epoch shuffles files and records with a seed made from `seed` and the epoch
    index alone, so any epoch can be rebuilt without replaying the ones before it.

    Returns:
        (function from an int64 epoch index to a dataset of serialized records,
        records per epoch of this pipeline).
    """
    shard_by_file = num_pipelines > 1 and len(files) >= num_pipelines
    if shard_by_file:
        own_files = files[pipeline_id::num_pipelines]
        epoch_size = sum(counts[pipeline_id::num_pipelines])
    else:
        own_files = files
        epoch_size = len(range(pipeline_id, sum(counts), num_pipelines))
    # Record-level sharding needs the same record order in every pipeline.
    deterministic = deterministic or (num_pipelines > 1 and not shard_by_file)

    def one_epoch(epoch):
        # Stateless shuffles: no dependence on TensorFlow's global seed, which
        # Dataset.shuffle would mix in (and cannot take with a tensor seed when it
        # is 0).
        epoch_seed = tf.constant(seed, tf.int64) * 1_000_003 + epoch
        names = tf.random.experimental.stateless_shuffle(
            tf.constant(own_files), seed=tf.stack([epoch_seed, -1])
        )
        records = tf.data.Dataset.from_tensor_slices(names).interleave(
            lambda name: tf.data.TFRecordDataset(name, buffer_size=8 << 20),
            cycle_length=min(len(own_files), 8),
            block_length=1,
            num_parallel_calls=AUTOTUNE,
            deterministic=deterministic,
        )
        if num_pipelines > 1 and not shard_by_file:
            records = records.shard(num_pipelines, pipeline_id)
        # Permute consecutive blocks of `shuffle_buffer` records.
        blocks = records.batch(shuffle_buffer).enumerate()
        return blocks.flat_map(
            lambda index, block: tf.data.Dataset.from_tensor_slices(
                tf.random.experimental.stateless_shuffle(
                    block, seed=tf.stack([epoch_seed, index])
                )
            )
        )

    return one_epoch, epoch_size


def train_dataset(
    recipe: Recipe,
    input_context: tf.distribute.InputContext | None = None,
    *,
    repeat: bool = True,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Training batches: shuffled records, SPEC §3 augmentation, per-replica batches.

    Under a tf.distribute strategy pass the `input_context` that
    `strategy.distribute_datasets_from_function` gives: each input pipeline (worker)
    then reads its own share of the shards, and batches hold `recipe.train.batch_size`
    images, the per-replica batch.

    The stream is a pure function of the recipe's seed: epoch e is shuffled with a
    seed made from (seed, e) and example i is augmented with the seed (seed, i). A run
    resumed at `start_step` therefore starts at the example an uninterrupted run would
    see at that step (the same example, with `data.deterministic`), reading but not
    decoding the rest of the current epoch's records before it.

    Args:
        recipe: Recipe. Reads `data` (shards, augmentation, shuffle buffer,
            determinism) and `train` (batch size, seed).
        input_context: tf.distribute.InputContext or None.
        repeat: bool. Cycle through the data forever (training); False for one pass.
            Defaults to True.
        start_step: int. Training steps already taken (a resumed run); the stream
            skips the examples they consumed. Defaults to 0.

    Returns:
        tf.data.Dataset of (images float32 [B, crop_h, crop_w, 3], labels int32
        [B, crop_h, crop_w]).

    Raises:
        MissingShardsError: when the split has no shards.

    Example:
        >>> dataset = strategy.distribute_datasets_from_function(
        ...     lambda context: train_dataset(recipe, context))
    """
    data = recipe.data
    files = shard_files(data.root, data.train_split, data.dataset)
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    replicas = (
        input_context.num_replicas_in_sync // num_pipelines if input_context else 1
    )
    seed = recipe.train.seed * 1000 + pipeline_id
    one_epoch, epoch_size = _epoch_records(
        files,
        record_counts(files),
        pipeline_id,
        num_pipelines,
        seed,
        data.shuffle_buffer,
        data.deterministic,
    )
    consumed = start_step * recipe.train.batch_size * replicas if repeat else 0
    first_epoch, skip = divmod(consumed, max(epoch_size, 1))
    epochs = tf.data.Dataset.range(first_epoch, 2**62 if repeat else first_epoch + 1)
    records = epochs.flat_map(one_epoch).skip(skip)
    # Example i's augmentation draws from the stateless seed (seed, i): a pure
    # function of (record, seed, position), whatever order the map runs in.
    example_seeds = tf.data.Dataset.range(consumed, 2**62).map(
        lambda index: tf.stack([tf.constant(seed, tf.int64), index])
    )
    augmentation = dict(
        crop_size=data.crop_size,
        scale_range=data.scale_range,
        aspect_ratio_tolerance=data.aspect_ratio_tolerance,
        max_resize_attempts=data.max_resize_attempts,
        image_interpolation=data.image_interpolation,
        pad_value=data.pad_value,
        flip_probability=data.flip_probability,
        channel_order=data.channel_order,
        mean=data.mean,
        use_kernel=crop_resample_available(),
    )

    def example(record, example_seed):
        parsed = parse_record(record)
        label = decode_label(parsed, data.ignore_label)
        return sample_crop(parsed["encoded_image"], label, example_seed, **augmentation)

    dataset = tf.data.Dataset.zip((records, example_seeds)).map(
        example, num_parallel_calls=AUTOTUNE, deterministic=data.deterministic
    )
    dataset = dataset.batch(recipe.train.batch_size, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = data.deterministic
    # Shards are split by file above; stop tf.distribute from sharding again.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    return dataset.with_options(options).prefetch(AUTOTUNE)


def eval_dataset(recipe: Recipe, split: str | None = None) -> tf.data.Dataset:
    """Whole evaluation images, one at a time, undistorted, in shard order.

    Args:
        recipe: Recipe. Reads `data` (shards, channel order, mean, ignore label).
        split: str or None. Split to read; defaults to `recipe.data.eval_split`.

    Returns:
        tf.data.Dataset of dicts: `image` float32 [H, W, 3] (channel order, minus
        mean), `rgb` uint8 [H, W, 3] (as decoded, for CRF and panels), `label` int32
        [H, W] and `id` (string).

    Raises:
        MissingShardsError: when the split has no shards.
    """
    data = recipe.data
    files = shard_files(data.root, split or data.eval_split, data.dataset)

    def example(record):
        decoded = decode_record(record, data.ignore_label)
        return {
            "image": normalize(decoded["image"], data.channel_order, data.mean),
            "rgb": decoded["image"],
            "label": tf.cast(decoded["label"][..., 0], tf.int32),
            "id": decoded["id"],
        }

    dataset = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 4))
    options = tf.data.Options()
    options.deterministic = True
    return (
        dataset.map(example, num_parallel_calls=AUTOTUNE)
        .with_options(options)
        .prefetch(2)
    )
