"""The record schema: TensorFlow official vision's segmentation tf.train.Example.

Keys (what `official.vision.dataloaders.segmentation_input.Decoder` reads, plus the
ones it ignores but tools expect): `image/encoded`, `image/format`, `image/height`,
`image/width`, `image/filename`, `image/segmentation/class/encoded` and
`image/segmentation/class/format` (a one-channel PNG of class ids, 255 = ignore).
Images with no annotation (Cityscapes test) have no `image/segmentation/*` keys.
"""

from __future__ import annotations

import tensorflow as tf

IMAGE_KEYS = (
    "image/encoded",
    "image/format",
    "image/height",
    "image/width",
    "image/filename",
)
LABEL_KEYS = ("image/segmentation/class/encoded", "image/segmentation/class/format")


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def serialize_example(
    *,
    image: bytes,
    image_format: str,
    height: int,
    width: int,
    filename: str,
    label_png: bytes | None,
) -> bytes:
    """One serialized record, byte-for-byte deterministic for the same arguments.

    Args:
        image: bytes. The image file's bytes, as they are on disk (JPEG or PNG).
        image_format: str. `jpeg` or `png`.
        height: int. Image height in pixels.
        width: int. Image width in pixels.
        filename: str. The image's id or file name, for tracing a record back.
        label_png: bytes or None. One-channel PNG of class ids; None for an
            unannotated image.

    Returns:
        The serialized tf.train.Example.

    Example:
        >>> record = serialize_example(image=jpeg, image_format="jpeg", height=375,
        ...     width=500, filename="2007_000032", label_png=png)
    """
    feature = {
        "image/encoded": _bytes(image),
        "image/format": _bytes(image_format.encode()),
        "image/height": _int64(height),
        "image/width": _int64(width),
        "image/filename": _bytes(filename.encode()),
    }
    if label_png is not None:
        feature["image/segmentation/class/encoded"] = _bytes(label_png)
        feature["image/segmentation/class/format"] = _bytes(b"png")
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # Map fields serialise in a fixed (sorted) order only when asked to.
    return example.SerializeToString(deterministic=True)


def parse_example(record: bytes) -> dict:
    """Read a serialized record back into plain Python values (for verification).

    Args:
        record: bytes. One record of a shard.

    Returns:
        dict from key to bytes/int; label keys are absent for unannotated images.

    Raises:
        ValueError: if a required image key is missing.
    """
    example = tf.train.Example.FromString(record)
    features = example.features.feature
    parsed = {}
    for key in IMAGE_KEYS + LABEL_KEYS:
        if key not in features:
            if key in IMAGE_KEYS:
                raise ValueError(f"record has no {key}")
            continue
        feature = features[key]
        parsed[key] = (
            feature.int64_list.value[0]
            if feature.HasField("int64_list")
            else feature.bytes_list.value[0]
        )
    return parsed
