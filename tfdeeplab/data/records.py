"""Finding a split's shards and decoding their records (`shard_format`'s reader)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf

from tfdeeplab import shard_format
from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.shard_format import (
    IMAGE_ENCODED,
    IMAGE_FILENAME,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    LABEL_ENCODED,
)


class MissingShardsError(TfdeeplabError, FileNotFoundError):
    """No shards where the recipe says; the message names the path and the fix."""


class ShardsMismatchError(TfdeeplabError, ValueError):
    """Shards of another dataset, class count or ignore label than the recipe's."""


class CorruptShardError(TfdeeplabError, ValueError):
    """A shard that is not what its manifest says, or holds an unreadable record."""


def check_shard_sizes(files: Sequence[str], dataset: DatasetDescriptor) -> None:
    """Compare each shard's size with its manifest entry (cheap: no reading).

    Shards without a recorded size (older manifests, other tools) are not checked.

    Args:
        files: the shard files (`shard_files`).
        dataset: DatasetDescriptor. Its verifier command is what the error names.

    Raises:
        CorruptShardError: one line naming the first shard of another size and the
            command that verifies the shards.
    """
    for directory in sorted({Path(name).parent for name in files}):
        try:
            shards = shard_format.manifest_shards(directory)
        except shard_format.ManifestError:
            continue
        for name in sorted(files):
            entry = shards.get(Path(name).name)
            if (
                Path(name).parent != directory
                or not entry
                or shard_format.BYTES not in entry
            ):
                continue
            size = Path(name).stat().st_size
            if size != entry[shard_format.BYTES]:
                verify = dataset.verifier(directory)
                raise CorruptShardError(
                    f"{name}: {size} bytes, {shard_format.MANIFEST} says "
                    f"{entry[shard_format.BYTES]}; check the shards with: {verify}"
                )


def find_corrupt_shard(files: Sequence[str]) -> tuple[str, str] | None:
    """The first shard with an unreadable record and the reader's complaint, or None.

    Reads every record of every shard (what a DataLossError during training leaves
    no cheaper way to pin down).
    """
    for name in files:
        try:
            tf.data.TFRecordDataset(name).reduce(0, lambda count, _: count + 1)
        except tf.errors.DataLossError as error:
            return name, error.message.strip().splitlines()[0]
    return None


def naming_bad_shards(items: Iterator, files: Sequence[str], verify: str) -> Iterator:
    """`items` of a dataset over `files`, a record that cannot be read reported by
    its shard (training and evaluation both read through this).

    Args:
        items: iterator over a tf.data pipeline reading `files`.
        files: the shard paths.
        verify: str. The command that checks the shards (`verifier(root)`).

    Raises:
        CorruptShardError: one line naming the shard and `verify`.

    Example:
        >>> for example in naming_bad_shards(iter(dataset), files, verify): ...
    """
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except tf.errors.DataLossError as error:
            found = find_corrupt_shard(files)
            name, problem = found or ("a shard", error.message.strip().splitlines()[0])
            raise CorruptShardError(
                f"{name}: unreadable record ({problem}); check the shards with: "
                f"{verify}"
            ) from None
        yield item


def check_shards_fit(
    root: str | Path, *, dataset: str, num_classes: int, ignore_label: int
) -> None:
    """Compare what the shards' manifest says they hold with what a model expects.

    Shards without a manifest (written by other tools) are not checked.

    Args:
        root: str or Path. The converter's output directory.
        dataset: str. The dataset the recipe names.
        num_classes: int. The model's classes.
        ignore_label: int. The label the loss and metrics skip.

    Raises:
        ShardsMismatchError: one line naming the manifest, what it says and what
            the recipe says.
        ManifestError: for an unreadable manifest.
    """
    root = Path(root).expanduser()
    manifest = shard_format.read_manifest(root)
    held = shard_format.dataset_held(manifest)
    if held is None:
        return
    if held != (dataset, num_classes, ignore_label):
        raise ShardsMismatchError(
            f"{Path(root) / shard_format.MANIFEST}: the shards hold dataset {held[0]} "
            f"with {held[1]} classes and ignore label {held[2]}; the recipe has "
            f"data.dataset {dataset}, model.num_classes {num_classes} and "
            f"data.ignore_label {ignore_label}"
        )


def shard_files(root: str | Path, split: str, dataset: DatasetDescriptor) -> list[str]:
    """The split's shard files, sorted.

    Args:
        root: str or Path. The converter's output directory (`recipe.data.root`).
        split: str. Split name, e.g. `train_aug`.
        dataset: DatasetDescriptor. Its converter command is what the error names
            (`Experiment.dataset`).

    Returns:
        list of file names matching `{root}/{split}-*-of-*.tfrecord`.

    Raises:
        MissingShardsError: one line naming the expected path and the converter
            command that writes it.

    Example:
        >>> shard_files("data/voc", "val", DATASETS["voc"])
        ['data/voc/val-00000-of-00002.tfrecord', 'data/voc/val-00001-of-00002.tfrecord']
    """
    converter = dataset.converter(root)
    directory = Path(root).expanduser()
    pattern = shard_format.shard_pattern(split)
    try:
        splits = shard_format.read_manifest(directory)[shard_format.SPLITS]
    except shard_format.ManifestError:
        splits = {}
    converted = sorted(splits)
    entry = splits.get(split) or {}
    if entry.get(shard_format.SHARDS) or entry.get(shard_format.NUM_SHARDS):
        # The converter's own shards: exactly those the manifest lists.
        files = _listed_shards(directory, split, entry, converter)
    else:  # other tools' shards, or no manifest
        files = sorted(str(path) for path in directory.glob(pattern))
    if not files and converted and split not in converted:  # a misspelt split
        raise MissingShardsError(
            f"no split {split!r} in {root}: it holds {', '.join(converted)} "
            "(check data.train_split and data.eval_split)"
        )
    if not files:
        raise MissingShardsError(
            f"no shards at {Path(root) / pattern}; write them with: {converter}"
        )
    return files


def _listed_shards(directory: Path, split: str, entry: dict, converter: str):
    listed = sorted(
        shard[shard_format.FILE] for shard in shard_format.listed_shards(entry)
    )
    expected = entry.get(shard_format.NUM_SHARDS, len(listed))
    if len(listed) != expected:
        raise MissingShardsError(
            f"{directory}: split {split} is incomplete ({len(listed)} of "
            f"{expected} shards written); finish it with: {converter}"
        )
    missing = [name for name in listed if not (directory / name).is_file()]
    if missing:
        raise MissingShardsError(
            f"{directory / missing[0]}: listed in {shard_format.MANIFEST} but "
            f"missing; write it again with: {converter}"
        )
    return [str(directory / name) for name in listed]


def record_counts(files: Sequence[str]) -> list[int]:
    """Records in each shard, from the converter's `manifest.json` beside them.

    Shards without a manifest entry (written by other tools), or beside a manifest
    that cannot be read, are counted by reading them once.

    Args:
        files: sequence of shard paths, e.g. from `shard_files`.

    Returns:
        list of int, one count per file.

    Example:
        >>> record_counts(shard_files("data/voc", "val", DATASETS["voc"]))
        [725, 724]
    """
    known = {}
    for directory in {Path(name).parent for name in files}:
        try:
            shards = shard_format.manifest_shards(directory)
        except shard_format.ManifestError:
            continue  # an unreadable manifest only costs a count
        known.update(
            {
                str(directory / name): int(entry[shard_format.NUM_RECORDS])
                for name, entry in shards.items()
            }
        )
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
    features = tf.io.parse_single_example(record, shard_format.feature_spec())
    return {
        "encoded_image": features[IMAGE_ENCODED],
        "height": tf.cast(features[IMAGE_HEIGHT], tf.int32),
        "width": tf.cast(features[IMAGE_WIDTH], tf.int32),
        "id": features[IMAGE_FILENAME],
        "encoded_label": features[LABEL_ENCODED],
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
