"""The on-disk format of a converted dataset: TFRecord shards and `manifest.json`.

One module for the format, imported by its writers (`tfrecords_tools`) and its
readers (`tfdeeplab.data.records`, the converters' `--verify`).

Records are TensorFlow official vision's segmentation `tf.train.Example`: the keys its
`segmentation_input.Decoder` reads plus those it ignores but tools expect,
`image/encoded`, `image/format`, `image/height`, `image/width`, `image/filename`,
`image/segmentation/class/encoded` and `image/segmentation/class/format` (a
one-channel PNG of class ids, 255 = ignore). Images with no annotation (Cityscapes
test) have no `image/segmentation/*` keys.

Shards are `{split}-{index:05d}-of-{count:05d}.tfrecord`. `manifest.json` beside them
records the dataset (`dataset`, `num_classes`, `ignore_label`, `format_version`, and
since 2026-12-01 its whole `descriptor`: class names, colours, ignore label, splits)
and per split (`splits`): `num_images`, `num_shards`, `shards` (each with `file`,
`num_records`, `bytes` (since 2026-11-26), `sha256` and the converter's `plan` key),
`class_pixels`, `class_images` (since 2026-12-01), `ignored_pixels`, `skipped`,
`planned_files` (since 2026-12-07: the shard names planned before writing began) and the
converter's facts about the split's source.

TensorFlow is imported inside the functions that need it: the converters' worker
processes import this module and never load it.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

from tfdeeplab.atomic_files import write_json
from tfdeeplab.errors import TfdeeplabError

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_FILENAME = "image/filename"
LABEL_ENCODED = "image/segmentation/class/encoded"
LABEL_FORMAT = "image/segmentation/class/format"
IMAGE_KEYS = (IMAGE_ENCODED, IMAGE_FORMAT, IMAGE_HEIGHT, IMAGE_WIDTH, IMAGE_FILENAME)
LABEL_KEYS = (LABEL_ENCODED, LABEL_FORMAT)
INTEGER_KEYS = (IMAGE_HEIGHT, IMAGE_WIDTH)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

# The manifest's keys, for its writers and readers alike.
FORMAT_VERSION_KEY = "format_version"
DATASET, NUM_CLASSES, IGNORE_LABEL = "dataset", "num_classes", "ignore_label"
SPLITS = "splits"
# ... of a split's entry
NUM_IMAGES, NUM_SHARDS, SHARDS = "num_images", "num_shards", "shards"
CLASS_PIXELS, IGNORED_PIXELS, SKIPPED = "class_pixels", "ignored_pixels", "skipped"
CLASS_IMAGES = "class_images"  # per class, the images it appears in (2026-12-01)
DESCRIPTOR = "descriptor"  # the dataset's DatasetDescriptor.to_json (2026-12-01)
# ... of a shard's entry
FILE, NUM_RECORDS, BYTES = "file", "num_records", "bytes"
SHA256, PLAN = "sha256", "plan"
# ... of a split's entry again: the shard files planned before writing began, so a
# file of those names is the converter's own (2026-12-07)
PLANNED = "planned_files"


class ManifestError(TfdeeplabError, ValueError):
    """A manifest that cannot be read; the message names the file."""


class SplitNameError(TfdeeplabError, ValueError):
    """A split name that is not a plain name (it would become a path or a
    pattern); the message names it."""


# ------------------------------------------------------------------------ shards
# A split name becomes part of file names: letters, digits, `_`, `-` and `.`, never
# `.` first (no hidden files, no `..`), so it is never a path or a glob pattern.
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_SHARD_SUFFIX = r"-\d{5}-of-\d{5}\.tfrecord"


def check_split_name(split: object, where: str = "split") -> str:
    """`split` itself if it is a plain split name.

    Args:
        split: the name (from a flag, a list file's name, a folder, a recipe).
        where: str. What gave it, for the message (`--split`). Defaults to `split`.

    Returns:
        str, `split`.

    Raises:
        SplitNameError: one line naming the value and what a name may hold.

    Example:
        >>> check_split_name("train_aug")
        'train_aug'
    """
    if not isinstance(split, str) or not _SPLIT_NAME.fullmatch(split):
        raise SplitNameError(
            f"{where} {split!r}: a split name is letters, digits, '_', '-' and "
            "'.' (not first)"
        )
    return split


def shard_name(split: str, index: int, count: int) -> str:
    """`{split}-{index:05d}-of-{count:05d}.tfrecord`.

    Raises:
        SplitNameError: `split` is not a plain name (`check_split_name`).

    Example:
        >>> shard_name("val", 0, 2)
        'val-00000-of-00002.tfrecord'
    """
    return f"{check_split_name(split)}-{index:05d}-of-{count:05d}.tfrecord"


def shard_pattern(split: str) -> str:
    """The glob pattern matching every shard name of `split`.

    Raises:
        SplitNameError: `split` is not a plain name (`check_split_name`).
    """
    return f"{glob.escape(check_split_name(split))}-*-of-*.tfrecord"


def is_shard_name(name: str, split: str) -> bool:
    """Whether the file name `name` is exactly a shard name of `split`.

    Example:
        >>> is_shard_name("val-00000-of-00002.tfrecord", "val")
        True
    """
    return bool(re.fullmatch(re.escape(split) + _SHARD_SUFFIX, name))


# ------------------------------------------------------------------------ records
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
    import tensorflow as tf

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int64(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    feature = {
        IMAGE_ENCODED: _bytes(image),
        IMAGE_FORMAT: _bytes(image_format.encode()),
        IMAGE_HEIGHT: _int64(height),
        IMAGE_WIDTH: _int64(width),
        IMAGE_FILENAME: _bytes(filename.encode()),
    }
    if label_png is not None:
        feature[LABEL_ENCODED] = _bytes(label_png)
        feature[LABEL_FORMAT] = _bytes(b"png")
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
    import tensorflow as tf

    features = tf.train.Example.FromString(record).features.feature
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


def feature_spec() -> dict:
    """The `tf.io.parse_single_example` spec of the keys the input pipelines read.

    The file name and the label default to empty (unannotated images, other tools'
    shards).
    """
    import tensorflow as tf

    return {
        IMAGE_ENCODED: tf.io.FixedLenFeature((), tf.string),
        IMAGE_HEIGHT: tf.io.FixedLenFeature((), tf.int64),
        IMAGE_WIDTH: tf.io.FixedLenFeature((), tf.int64),
        IMAGE_FILENAME: tf.io.FixedLenFeature((), tf.string, default_value=""),
        LABEL_ENCODED: tf.io.FixedLenFeature((), tf.string, default_value=""),
    }


# ------------------------------------------------------------------------ manifest
def empty_manifest() -> dict:
    """A manifest with no splits yet."""
    return {FORMAT_VERSION_KEY: FORMAT_VERSION, SPLITS: {}}


def set_dataset(
    manifest: dict,
    *,
    dataset: str,
    num_classes: int,
    ignore_label: int,
    descriptor: dict | None = None,
) -> None:
    """Record in `manifest` what the shards hold (what readers check a recipe by),
    and the dataset's whole descriptor (names, colours, splits) when given."""
    manifest.update(
        {
            FORMAT_VERSION_KEY: FORMAT_VERSION,
            DATASET: dataset,
            NUM_CLASSES: num_classes,
            IGNORE_LABEL: ignore_label,
        }
    )
    if descriptor is not None:
        manifest[DESCRIPTOR] = descriptor
    manifest.setdefault(SPLITS, {})


def dataset_held(manifest: dict) -> tuple | None:
    """(dataset, class count, ignore label) the manifest records, or None (shards
    of another tool)."""
    if DATASET not in manifest:
        return None
    return manifest[DATASET], manifest.get(NUM_CLASSES), manifest.get(IGNORE_LABEL)


def split_entry(
    *,
    num_images: int,
    num_shards: int,
    class_pixels: list[int],
    ignored_pixels: int,
    skipped: list[dict],
    facts: dict | None = None,
) -> dict:
    """A split's entry: its counts, histogram and skipped items (shards to come)."""
    return {
        NUM_IMAGES: num_images,
        NUM_SHARDS: num_shards,
        SHARDS: [],
        CLASS_PIXELS: class_pixels,
        IGNORED_PIXELS: ignored_pixels,
        SKIPPED: skipped,
        **(facts or {}),
    }


def shard_entry(*, file: str, num_records: int, size: int, sha256: str) -> dict:
    """A shard's entry (the converter adds its `plan` key)."""
    return {FILE: file, NUM_RECORDS: num_records, BYTES: size, SHA256: sha256}


def listed_shards(entry: dict) -> list[dict]:
    """The shard entries of a split's entry."""
    return list(entry.get(SHARDS, []))


def read_manifest(directory: str | Path) -> dict:
    """The manifest in `directory`, or `empty_manifest()` if there is none.

    Args:
        directory: str or Path. A converter's output directory.

    Returns:
        dict, the manifest's JSON.

    Raises:
        ManifestError: one line naming the file, for a manifest that is not valid
            JSON or not a JSON object.

    Example:
        >>> read_manifest("data/voc")["splits"]["val"]["num_images"]
        1449
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return empty_manifest()
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get(SPLITS, {}), dict):
        raise ManifestError(f"{path}: expected a JSON object with a `splits` object")
    manifest.setdefault(SPLITS, {})
    return manifest


def write_manifest(directory: str | Path, manifest: dict) -> None:
    """Write the manifest, whole or not at all."""
    write_json(Path(directory) / MANIFEST, manifest, sort_keys=True)


def manifest_shards(directory: str | Path) -> dict[str, dict]:
    """Every shard entry the manifest lists, by file name (empty without one).

    Raises:
        ManifestError: for an unreadable manifest.

    Example:
        >>> manifest_shards("data/voc")["val-00000-of-00002.tfrecord"]["num_records"]
        725
    """
    return {
        shard[FILE]: shard
        for split in read_manifest(directory)[SPLITS].values()
        for shard in listed_shards(split)
    }


def descriptor_held(directory: str | Path):
    """The DatasetDescriptor the manifest in `directory` records, or None (shards
    written before 2026-12-01, or by another tool).

    Raises:
        ManifestError: an unreadable manifest.
        DescriptorError: a recorded descriptor that is not one (names the file).

    Example:
        >>> descriptor_held("data/my_folder").class_names[:2]
        ('background', 'crack')
    """
    from tfdeeplab.catalog.datasets import DatasetDescriptor

    record = read_manifest(directory).get(DESCRIPTOR)
    if record is None:
        return None
    return DatasetDescriptor.from_json(record, str(Path(directory) / MANIFEST))


# `data.dataset: from_shards`: the dataset is the one its shards' manifest records.
FROM_SHARDS = "from_shards"


def dataset_of(name: str, root: str | Path | None):
    """The descriptor of a recipe's dataset: the built-in table's entry (`voc`,
    `cityscapes`), else the one the manifest in `root` records (a folder converted
    by `python -m tfrecords_tools.folder`), which `name` must name or be
    `from_shards`.

    Raises:
        UnknownDatasetError: no such built-in dataset and no descriptor in `root`,
            or a descriptor of another name (one line naming both).
        ManifestError, DescriptorError: an unreadable manifest.

    Example:
        >>> dataset_of("from_shards", "data/cracks").class_names
        ('background', 'crack')
    """
    from tfdeeplab.catalog.datasets import DATASETS, UnknownDatasetError

    if name in DATASETS:
        return DATASETS[name]
    held = None
    if root is not None and (Path(root) / MANIFEST).is_file():
        held = descriptor_held(root)
    known = ", ".join(sorted(DATASETS))
    if held is None and name == FROM_SHARDS:
        raise UnknownDatasetError(
            f"{FROM_SHARDS}: {root} has no {MANIFEST} recording a dataset (give "
            "the converted shards with --set data.root=DIR, or convert a folder "
            "into it: python -m tfrecords_tools.folder --out ...)"
        )
    if held is None:
        where = f"{root} has no {MANIFEST} recording a dataset" if root else "no root"
        raise UnknownDatasetError(
            f"unknown dataset {name!r} (known datasets: {known}; or {FROM_SHARDS} "
            f"for shards of python -m tfrecords_tools.folder, but {where})"
        )
    if name not in (FROM_SHARDS, held.name):
        raise UnknownDatasetError(
            f"{name!r}, but the shards in {root} hold the dataset {held.name!r} "
            f"(say {held.name} or {FROM_SHARDS})"
        )
    return held
