"""tf.data pipelines over shard files: augmented training batches, whole eval images.

Plain keyword arguments only; `tfdeeplab.data.builder` turns a recipe into these
calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfdeeplab.data.augment import Augmentation, normalize
from tfdeeplab.data.crop_sampler import sample_crop
from tfdeeplab.data.records import decode_label, decode_record, parse_record

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


def training_batches(
    files: list[str],
    record_counts: list[int],
    *,
    augmentation: Augmentation,
    batch_size: int,
    seed: int,
    shuffle_buffer: int,
    deterministic: bool,
    ignore_label: int = 255,
    input_context: tf.distribute.InputContext | None = None,
    repeat: bool = True,
    start_step: int = 0,
    use_kernel: bool = True,
) -> tf.data.Dataset:
    """Shuffled records, SPEC §3 augmentation, per-replica batches.

    Under a tf.distribute strategy pass the `input_context` that
    `strategy.distribute_datasets_from_function` gives: each input pipeline (worker)
    then reads its own share of the shards, and batches hold `batch_size` images,
    the per-replica batch.

    The stream is a pure function of `seed`: epoch e is shuffled with a seed made
    from (seed, e) and example i is augmented with the seed (seed, i). A run resumed
    at `start_step` therefore starts at the example an uninterrupted run would see
    at that step (the same example, with `deterministic`), reading but not decoding
    the rest of the current epoch's records before it.

    Args:
        files: list of shard paths.
        record_counts: list of int. Records in each shard.
        augmentation: Augmentation.
        batch_size: int. Images per replica and step.
        seed: int. The run's seed.
        shuffle_buffer: int. Records permuted together.
        deterministic: bool. Identical batches for the same seed (slower).
        ignore_label: int. Label of every pixel of an unannotated image.
        input_context: tf.distribute.InputContext or None.
        repeat: bool. Cycle through the data forever (training); False for one pass.
            Defaults to True.
        start_step: int. Training steps already taken (a resumed run); the stream
            skips the examples they consumed. Defaults to 0.
        use_kernel: bool. Resample with the C++ kernel (else its TensorFlow
            reference). Defaults to True.

    Returns:
        tf.data.Dataset of (images float32 [B, crop_h, crop_w, 3], labels int32
        [B, crop_h, crop_w]).
    """
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    replicas = (
        input_context.num_replicas_in_sync // num_pipelines if input_context else 1
    )
    seed = seed * 1000 + pipeline_id
    one_epoch, epoch_size = _epoch_records(
        files,
        record_counts,
        pipeline_id,
        num_pipelines,
        seed,
        shuffle_buffer,
        deterministic,
    )
    consumed = start_step * batch_size * replicas if repeat else 0
    first_epoch, skip = divmod(consumed, max(epoch_size, 1))
    epochs = tf.data.Dataset.range(first_epoch, 2**62 if repeat else first_epoch + 1)
    records = epochs.flat_map(one_epoch).skip(skip)
    # Example i's augmentation draws from the stateless seed (seed, i): a pure
    # function of (record, seed, position), whatever order the map runs in.
    example_seeds = tf.data.Dataset.range(consumed, 2**62).map(
        lambda index: tf.stack([tf.constant(seed, tf.int64), index])
    )
    crop = _cropper(augmentation, ignore_label, use_kernel)
    dataset = tf.data.Dataset.zip((records, example_seeds)).map(
        crop, num_parallel_calls=AUTOTUNE, deterministic=deterministic
    )
    return _finish(dataset.batch(batch_size, drop_remainder=True), deterministic)


def _cropper(augmentation: Augmentation, ignore_label: int, use_kernel: bool):
    """(record, example seed) -> the SPEC §3 crop (image, label) of the record."""

    def crop(record, example_seed):
        parsed = parse_record(record)
        label = decode_label(parsed, ignore_label)
        return sample_crop(
            parsed["encoded_image"],
            label,
            example_seed,
            augmentation,
            use_kernel=use_kernel,
        )

    return crop


def _finish(dataset: tf.data.Dataset, deterministic: bool) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = deterministic
    # Shards are split by file above; stop tf.distribute from sharding again.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    return dataset.with_options(options).prefetch(AUTOTUNE)


def evaluation_images(
    files: list[str],
    *,
    channel_order: str,
    mean: Sequence[float],
    ignore_label: int = 255,
) -> tf.data.Dataset:
    """Whole images, one at a time, undistorted, in shard order.

    Args:
        files: list of shard paths.
        channel_order: str. `bgr` or `rgb`, the model's input order.
        mean: 3 floats subtracted per channel (in `channel_order`).
        ignore_label: int. Label of every pixel of an unannotated image.

    Returns:
        tf.data.Dataset of dicts: `image` float32 [H, W, 3] (channel order, minus
        mean), `rgb` uint8 [H, W, 3] (as decoded, for CRF and panels), `label` int32
        [H, W] and `id` (string).
    """

    def example(record):
        decoded = decode_record(record, ignore_label)
        return {
            "image": normalize(decoded["image"], channel_order, mean),
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
