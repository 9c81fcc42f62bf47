"""`python -m tfdeeplab.bench data`: training-input images/s against peers.

On the same VOC-like shards (375x500 JPEG photo-like images, PNG labels; generated and
converted unless `--shards DIR` is given), measures in one run:

1. ours: `tfdeeplab.data.train_dataset` (SPEC §3 augmentation, crop 321, batch 10);
2. tf-models-official: its segmentation Decoder and Parser (crop 321, scale jitter
   0.7-1.5, flip) in the same tf.data frame (interleave, shuffle, AUTOTUNE map, batch);
3. tensorpack-style: Python worker processes decode with OpenCV and augment in NumPy
   (the seed's approach with more workers and uint8 transfers);
4. the ceiling: decode-only (parse, decode JPEG and PNG), nothing else.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tfdeeplab.bench.arguments import positive_int
from tfdeeplab.bench.table import emit
from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES

VOC_RECIPE = SHIPPED_RECIPES / "voc.yaml"

CROP = 321
BATCH = 10


def _time_batches(iterator, batches: int, warmup: int) -> float:
    """Seconds for `batches` batches after `warmup` batches."""
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return time.perf_counter() - start


def _make_shards(directory: Path, images: int) -> Path:
    from tfdeeplab.catalog.datasets import DATASETS
    from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree
    from tfrecords_tools.conversion import ConversionOptions, convert
    from tfrecords_tools.voc import voc_splits

    voc_root = write_voc_tree(
        directory / "tree", [voc_id(i) for i in range(images)], [], size=(375, 500)
    )
    splits, _ = voc_splits(voc_root, None)
    out = directory / "shards"
    convert(
        {"train_aug": splits["train"]},
        DATASETS["voc"],
        out,
        options=ConversionOptions(shard_bytes=5e6, progress=False),
    )
    return out


def _voc_mean() -> tuple[float, ...]:
    """`recipes/voc.yaml`'s mean, the one both pipelines subtract."""
    from tfdeeplab.config import load_recipe

    return tuple(load_recipe(VOC_RECIPE).data.mean)


def _ours(shards: Path, deterministic: bool):
    from tfdeeplab.data.builder import train_dataset
    from tfdeeplab.experiment import Experiment

    experiment = Experiment.from_file(
        VOC_RECIPE,
        [f"data.root={shards}", f"data.deterministic={str(deterministic).lower()}"],
    )
    recipe = experiment.recipe
    return iter(train_dataset(recipe, experiment.shard_files(recipe.data.train_split)))


def _official(files: list[str]):
    import tensorflow as tf
    from official.vision.dataloaders import segmentation_input

    decoder = segmentation_input.Decoder()
    parser = segmentation_input.Parser(
        output_size=[CROP, CROP],
        crop_size=[CROP, CROP],
        aug_scale_min=0.7,
        aug_scale_max=1.5,
        aug_rand_hflip=True,
        ignore_label=255,
    )
    parse = parser.parse_fn(is_training=True)
    dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files)).repeat()
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(8, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    dataset = dataset.shuffle(1000).map(
        lambda r: parse(decoder.decode(r)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    return iter(dataset.batch(BATCH, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def _tensorpack_example(record: bytes, seed: int):
    """Decode and augment one record in NumPy/OpenCV, as the seed's loader did."""
    import cv2

    from tfdeeplab.shard_format import IMAGE_ENCODED, LABEL_ENCODED, parse_example

    fields = parse_example(record)
    image = cv2.imdecode(
        np.frombuffer(fields[IMAGE_ENCODED], np.uint8), cv2.IMREAD_COLOR
    )  # BGR
    label = cv2.imdecode(
        np.frombuffer(fields[LABEL_ENCODED], np.uint8),
        cv2.IMREAD_GRAYSCALE,
    )
    rng = np.random.default_rng(seed)
    for _ in range(50):
        sx, sy = rng.uniform(0.7, 1.5, 2)
        if abs(sx / sy - 1) < 0.15:
            break
    else:
        sx = sy = 1.0
    height, width = label.shape
    size = (int(width * sx + 0.5), int(height * sy + 0.5))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    pad_h, pad_w = max(CROP - size[1], 0), max(CROP - size[0], 0)
    if pad_h or pad_w:
        borders = (pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2)
        image = cv2.copyMakeBorder(
            image, *borders, cv2.BORDER_CONSTANT, value=(255, 255, 255)
        )
        label = cv2.copyMakeBorder(label, *borders, cv2.BORDER_CONSTANT, value=255)
    top = rng.integers(0, image.shape[0] - CROP + 1)
    left = rng.integers(0, image.shape[1] - CROP + 1)
    image, label = (
        image[top : top + CROP, left : left + CROP],
        label[top : top + CROP, left : left + CROP],
    )
    if rng.random() < 0.5:
        image, label = image[:, ::-1], label[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(
        label
    )  # uint8 over the pipe


def _tensorpack(files: list[str], pool, mean: tuple[float, ...]):
    import tensorflow as tf

    records = zip(
        tf.data.TFRecordDataset(files).repeat().as_numpy_iterator(), itertools.count()
    )
    # A bounded window of tasks in flight (50, tensorpack's default queue size): the
    # workers stop when nobody reads, so other pipelines are measured undisturbed.
    in_flight = collections.deque(
        pool.apply_async(_tensorpack_example, task)
        for task in itertools.islice(records, 50)
    )
    mean = np.array(mean, np.float32)  # the recipe's, as ours subtracts
    try:
        while True:
            batch = []
            for _ in range(BATCH):
                batch.append(in_flight.popleft().get())
                in_flight.append(pool.apply_async(_tensorpack_example, next(records)))
            images = np.stack([image for image, _ in batch]).astype(np.float32) - mean
            yield images, np.stack([label for _, label in batch]).astype(np.int32)
    finally:
        # Closed: collect what is in flight, so the pool shuts down with empty
        # queues. Pool.terminate() with results in flight can hang for good: its
        # result handler stops reading while a worker holds the result queue's
        # lock, blocked writing an image into the full pipe.
        for task in in_flight:
            task.wait()


def _decode_only(files: list[str]):
    import tensorflow as tf

    from tfdeeplab.data.records import decode_record

    dataset = tf.data.TFRecordDataset(files).repeat()
    dataset = dataset.map(
        lambda r: decode_record(r),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    dataset = dataset.map(
        lambda d: (d["image"][:1, :1], d["label"][:1, :1])
    )  # sizes differ: no batching of full images
    return iter(dataset.batch(BATCH).prefetch(tf.data.AUTOTUNE))


def run(args: argparse.Namespace) -> None:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as scratch:
        shards = args.shards or _make_shards(Path(scratch), args.images)
        files = sorted(str(p) for p in Path(shards).glob("train_aug-*.tfrecord"))
        pool = multiprocessing.get_context("spawn").Pool(args.workers)
        pipelines = {
            "ours (tfdeeplab.data)": _ours(Path(shards), deterministic=False),
            "ours, deterministic": _ours(Path(shards), deterministic=True),
            "tf-models-official segmentation": _official(files),
            f"tensorpack-style ({args.workers} processes)": _tensorpack(
                files, pool, _voc_mean()
            ),
            "decode-only ceiling": _decode_only(files),
        }
        # Rounds interleave the pipelines so a slow spell of the machine hits all of
        # them; each pipeline's figure is its median round.
        rounds = {name: [] for name in pipelines}
        for round_index in range(args.rounds):
            for name, iterator in pipelines.items():
                seconds = _time_batches(
                    iterator, args.batches, warmup=3 if round_index == 0 else 0
                )
                rounds[name].append(args.batches * BATCH / seconds)
        for iterator in pipelines.values():
            getattr(iterator, "close", lambda: None)()  # the tensorpack generator's
        pool.close()
        pool.join()
        rows = [
            {
                "pipeline": name,
                "images_per_s": float(np.median(rates)),
                "rounds": len(rates),
                "spread": float(max(rates) - min(rates)),
            }
            for name, rates in rounds.items()
        ]
        ours = rows[0]["images_per_s"]
        for row in rows:
            row["ours_over_this"] = ours / row["images_per_s"]
        emit(
            "data",
            rows,
            ["pipeline", "images_per_s", "spread", "ours_over_this"],
            {
                "crop": CROP,
                "batch": BATCH,
                "batches": args.batches,
                "rounds": args.rounds,
                "cores": os.cpu_count(),
                "tensorflow": tf.__version__,
            },
            args.json,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shards",
        type=Path,
        help="directory with train_aug-*.tfrecord (default: generate)",
    )
    parser.add_argument(
        "--images",
        type=positive_int,
        default=300,
        help="images to generate (default 300)",
    )
    parser.add_argument(
        "--batches",
        type=positive_int,
        default=40,
        help="timed batches of 10 per pipeline and round (default 40)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        help="interleaved rounds; each figure is the median round (default 3)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="tensorpack-style processes",
    )
