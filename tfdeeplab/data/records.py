"""Finding a split's shards and decoding its records (the converters' schema)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

CONVERTER_COMMANDS = {
    "voc": "python -m tfrecords_tools.voc --voc-root VOCdevkit/VOC2012 "
    "--sbd-root benchmark_RELEASE/dataset --out {root}",
    "cityscapes": "python -m tfrecords_tools.cityscapes --root cityscapes --out {root}",
}

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/height": tf.io.FixedLenFeature((), tf.int64),
    "image/width": tf.io.FixedLenFeature((), tf.int64),
    "image/filename": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/segmentation/class/encoded": tf.io.FixedLenFeature(
        (), tf.string, default_value=""
    ),
}


class MissingShardsError(FileNotFoundError):
    """No shards where the recipe says; the message names the path and the fix."""


def shard_files(root: str | Path, split: str, dataset: str) -> list[str]:
    """The split's shard files, sorted.

    Args:
        root: str or Path. `recipe.data.root`.
        split: str. Split name, e.g. `train_aug`.
        dataset: str. `voc` or `cityscapes`, to name the converter in the error.

    Returns:
        list of file names matching `{root}/{split}-*-of-*.tfrecord`.

    Raises:
        MissingShardsError: one line naming the expected path and the converter
            command that writes it.
    """
    pattern = Path(root) / f"{split}-*-of-*.tfrecord"
    files = sorted(str(path) for path in Path(root).glob(pattern.name))
    if not files:
        command = CONVERTER_COMMANDS[dataset].format(root=root)
        raise MissingShardsError(f"no shards at {pattern}; write them with: {command}")
    return files


def record_counts(files: Sequence[str]) -> list[int]:
    """Records in each shard, from the converter's `manifest.json` beside them.

    Shards without a manifest entry (written by other tools) are counted by reading
    them once.

    Args:
        files: sequence of shard paths, e.g. from `shard_files`.

    Returns:
        list of int, one count per file.

    Example:
        >>> record_counts(shard_files("data/voc", "val", "voc"))
        [725, 724]
    """
    known = {}
    for directory in {Path(name).parent for name in files}:
        manifest = directory / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            splits = json.loads(manifest.read_text()).get("splits", {})
        except (json.JSONDecodeError, AttributeError):
            continue  # an unreadable manifest only costs a count
        for split in splits.values():
            for shard in split.get("shards", []):
                known[str(directory / shard["file"])] = int(shard["num_records"])
    counts = []
    for name in files:
        if str(Path(name)) in known:
            counts.append(known[str(Path(name))])
        else:
            dataset = tf.data.TFRecordDataset(name, buffer_size=8 << 20)
            counts.append(int(dataset.reduce(0, lambda count, _: count + 1)))
    return counts


def parse_record(record: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialized record without decoding its images.

    Returns:
        dict with `encoded_image` (string), `height`, `width` (int32), `id` (string)
        and `encoded_label` (string, empty for an unannotated image).
    """
    features = tf.io.parse_single_example(record, _FEATURES)
    return {
        "encoded_image": features["image/encoded"],
        "height": tf.cast(features["image/height"], tf.int32),
        "width": tf.cast(features["image/width"], tf.int32),
        "id": features["image/filename"],
        "encoded_label": features["image/segmentation/class/encoded"],
    }


def decode_label(parsed: dict[str, tf.Tensor], ignore_label: int = 255) -> tf.Tensor:
    """A parsed record's label, uint8 [H, W, 1]; all `ignore_label` if it has none."""
    height, width = parsed["height"], parsed["width"]
    return tf.cond(
        tf.strings.length(parsed["encoded_label"]) > 0,
        lambda: tf.reshape(
            tf.io.decode_png(parsed["encoded_label"], channels=1), [height, width, 1]
        ),
        lambda: tf.fill([height, width, 1], tf.constant(ignore_label, tf.uint8)),
    )


def decode_record(record: tf.Tensor, ignore_label: int = 255) -> dict[str, tf.Tensor]:
    """Parse and decode one record.

    Args:
        record: scalar string tensor, a serialized tf.train.Example.
        ignore_label: int. The label of every pixel of an unannotated image.

    Returns:
        dict with `image` uint8 [H, W, 3] (RGB), `label` uint8 [H, W, 1] (class ids)
        and `id` (string).
    """
    parsed = parse_record(record)
    image = tf.io.decode_image(
        parsed["encoded_image"], channels=3, expand_animations=False
    )
    image = tf.reshape(image, [parsed["height"], parsed["width"], 3])
    return {
        "image": image,
        "label": decode_label(parsed, ignore_label),
        "id": parsed["id"],
    }
