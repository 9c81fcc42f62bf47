"""The conversion engine shared by the VOC and Cityscapes converters.

A dataset layout module turns the files on disk into splits of `Item`s; `convert`
then, per split:

1. inspects every item in parallel (files present, image decodes, label size equals
   image size, label values in 0..C-1 or the ignore label) and collects every problem;
2. stops before writing anything for a split with problems (unless `skip_bad`);
3. writes the shards: worker processes decode and re-encode the labels, this process
   copies the image bytes into records; each shard goes to a temporary name, renamed
   when complete, and into `manifest.json` (record count, sha256, what went into it);
4. on a re-run, skips shards whose manifest entry matches the plan and whose file still
   has the recorded sha256, so a killed run finishes where it stopped and an unchanged
   input gives identical shards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import hashlib
import io
import json
import math
import multiprocessing
import random
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab import shard_format
from tfdeeplab.atomic_files import atomic_path, remove_stale_partials
from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.file_lock import exclusive_lock
from tfdeeplab.image_orientation import displayed, displayed_size, orientation
from tfdeeplab.progress_display import progress_bar
from tfdeeplab.shard_format import FORMAT_VERSION, MANIFEST, write_manifest
from tfrecords_tools import labels as label_readers

SHUFFLE_SEED = 0
LOCK_FILE = ".converter.lock"  # one converter at a time per output directory


@dataclasses.dataclass(frozen=True)
class ConversionOptions:
    """How the engine converts, whatever the layout: what every converter's
    common flags set (`tfrecords_tools.cli.engine_options`).

    Args:
        workers: int. Worker processes (1: none). Defaults to 1.
        shard_bytes: float. Target shard size in bytes. Defaults to 150e6.
        skip_bad: bool. Convert around bad items instead of refusing a split.
        progress: bool. Show progress bars. Defaults to True.
        force: bool. Convert into an `out_dir` holding TFRecord files that its
            manifest does not record, replacing those of exactly a converted
            split's shard names (the others stay). Defaults to False: refused.

    Example:
        >>> convert_voc(voc, out, options=ConversionOptions(workers=8))
    """

    workers: int = 1
    shard_bytes: float = 150e6
    skip_bad: bool = False
    progress: bool = True
    force: bool = False


@dataclasses.dataclass(frozen=True)
class Item:
    """One image and its label, as found in a dataset's layout.

    Args:
        id: str. The dataset's id of the image (VOC `2007_000032`, Cityscapes
            `aachen_000000_000019`).
        image: Path. The image file (JPEG or PNG), copied into the record as it is.
        label: Path or None. The label file; None for unannotated images.
        label_kind: str. How to read `label`: `palette_png`, `sbd_mat`,
            `cityscapes_label_ids`, `folder_mask`, `coco` or `none`.
        label_reading: tuple. For `folder_mask`: the arguments of
            `labels.read_folder_mask` after the path (format, colours, reduce
            zero label, ignore label); for `coco`: those of `labels.rasterise_coco`.
        declared_size: (height, width) or None. The label's size as its source
            states it (a COCO image's `height` and `width`), checked against the
            image as shown before the label is read.
    """

    id: str
    image: Path
    label: Path | None
    label_kind: str = "none"
    label_reading: tuple = ()
    declared_size: tuple[int, int] | None = None


@dataclasses.dataclass
class Inspection:
    """What inspecting one item found: problems, sizes and its class histogram."""

    item: Item
    problems: list[str]
    height: int = 0
    width: int = 0
    histogram: list[int] | None = None  # per class, then ignored pixels


class ConversionError(TfdeeplabError, RuntimeError):
    """A conversion that cannot run at all (bad roots, unreadable manifest)."""


# ------------------------------------------------------------------------ reading
_IMAGE_FORMATS = {"JPEG": "jpeg", "PNG": "png"}


@functools.lru_cache(maxsize=1)
def _cityscapes_table() -> np.ndarray:
    return label_readers.cityscapes_train_id_table()


def read_label(item: Item) -> np.ndarray:
    """The item's label as class ids [H, W] uint8 (see `tfrecords_tools.labels`)."""
    if item.label_kind == "palette_png":
        return label_readers.read_palette_png(item.label)
    if item.label_kind == "sbd_mat":
        return label_readers.read_sbd_mat(item.label)
    if item.label_kind == "cityscapes_label_ids":
        return label_readers.read_cityscapes_label_ids(item.label, _cityscapes_table())
    if item.label_kind == "folder_mask":
        return label_readers.read_folder_mask(item.label, *item.label_reading)
    if item.label_kind == "coco":  # instances rasterised by pycocotools
        try:
            return label_readers.rasterise_coco(*item.label_reading)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            raise label_readers.LabelError(
                f"image {item.id}: a segmentation that does not parse ({error})"
            ) from None
    raise ValueError(f"unknown label kind {item.label_kind!r}")


def _read_image_header(path: Path, decode: bool = False) -> tuple[str, int, int, int]:
    """(format, height, width as displayed, EXIF orientation); `decode` decodes
    all of it, to catch corruption."""
    with Image.open(path) as image:
        image_format = _IMAGE_FORMATS.get(image.format)
        if image_format is None:
            raise ValueError(f"image format {image.format} is neither JPEG nor PNG")
        if decode:
            image.load()
        return (image_format, *displayed_size(image), orientation(image))


def displayed_image_bytes(path: Path, image_format: str) -> bytes:
    """An image turned as its EXIF orientation says, encoded again: JPEG at
    quality 95 without chroma subsampling, PNG losslessly (TensorFlow's decoders
    ignore the tag, so the record holds the pixels as shown)."""
    with Image.open(path) as image:
        shown = displayed(image)
        buffer = io.BytesIO()
        if image_format == "jpeg":
            shown.save(buffer, format="JPEG", quality=95, subsampling=0)
        else:
            shown.save(buffer, format="PNG")
        return buffer.getvalue()


def inspect_item(item: Item, dataset: DatasetDescriptor) -> Inspection:
    """Check one item and measure its label; never raises for bad data.

    Args:
        item: Item. The image and label to check.
        dataset: DatasetDescriptor. Class count and ignore label.

    Returns:
        Inspection with every problem found, each naming the file.
    """
    problems = []
    result = Inspection(item, problems)
    turned = 1
    if not item.image.is_file():
        problems.append(f"{item.image}: image file missing")
    else:
        try:
            _, result.height, result.width, turned = _read_image_header(
                item.image, decode=True
            )
        except (OSError, SyntaxError, ValueError) as error:
            problems.append(f"{item.image}: corrupt image ({error})")
    if item.label is None:
        return result
    if not item.label.is_file():
        problems.append(f"{item.label}: label file missing")
        return result
    declared = item.declared_size
    if result.height and declared and declared != (result.height, result.width):
        problems.append(
            f"{item.label}: image {item.id}: size {declared[1]}x{declared[0]} in the "
            f"annotations differs from the image's {_size_shown(result, turned)}"
        )
        return result
    try:
        label = read_label(item)
    except label_readers.LabelError as error:
        problems.append(f"{item.label}: {error}")
        return result
    if result.height and (label.shape[0], label.shape[1]) != (
        result.height,
        result.width,
    ):
        problems.append(
            f"{item.label}: label size {label.shape[1]}x{label.shape[0]} differs from "
            f"image size {_size_shown(result, turned)}"
        )
    counts = np.bincount(label.ravel(), minlength=256)
    allowed = np.zeros(256, bool)
    allowed[: dataset.num_classes] = True
    allowed[dataset.ignore_label] = True
    bad_values = np.flatnonzero(counts * ~allowed)
    if bad_values.size:
        problems.append(
            f"{item.label}: label values outside 0..{dataset.num_classes - 1} and "
            f"{dataset.ignore_label}: {bad_values.tolist()}"
        )
    result.histogram = [int(c) for c in counts[: dataset.num_classes]] + [
        int(counts[dataset.ignore_label])
    ]
    return result


def _size_shown(result: Inspection, turned: int) -> str:
    """`WxH`, and for a photo whose EXIF orientation turns it, how it is stored."""
    size = f"{result.width}x{result.height}"
    if turned in (5, 6, 7, 8):
        size += (
            f" (as shown: the file stores {result.height}x{result.width} with EXIF "
            f"orientation {turned})"
        )
    elif turned != 1:
        size += f" (as shown, EXIF orientation {turned})"
    return size


# ------------------------------------------------------------------------ writing
@dataclasses.dataclass(frozen=True)
class ShardTask:
    """One shard to write: its path and its items in record order."""

    path: Path
    items: tuple[Item, ...]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_record(item: Item) -> tuple[str, int, int, bytes | None, bytes | None]:
    """A record's decoded parts, made in a worker: (format, height, width, label
    PNG, the image's bytes turned as shown or None to copy the file as it is).

    The image was fully decoded once by `inspect_item`; its header is enough here,
    but for a photo whose EXIF orientation turns it.
    """
    image_format, height, width, turned = _read_image_header(item.image)
    label_png = None
    if item.label is not None:
        label_png = label_readers.encode_label_png(read_label(item))
    shown = displayed_image_bytes(item.image, image_format) if turned != 1 else None
    return image_format, height, width, label_png, shown


def write_shards(tasks: Sequence[ShardTask], pool=None):
    """Write shards atomically (temporary name, then rename), yielding each when done.

    Workers decode and re-encode labels (`prepare_record`) for all tasks in one
    stream; this process copies the image bytes and writes the records, so the workers
    never load TensorFlow.

    Args:
        tasks: sequence of ShardTask, written in order.
        pool: multiprocessing pool or None.

    Yields:
        dict with each shard's `file`, `num_records`, `bytes` and `sha256`.

    Raises:
        ConversionError, OutputError: a shard cannot be written (a full disk); its
            temporary file is removed.
    """
    import tensorflow as tf

    all_items = (item for task in tasks for item in task.items)
    prepared = iter(_map(prepare_record, all_items, pool, chunksize=4))
    for task in tasks:
        try:
            with atomic_path(task.path, suffix="") as temporary:
                _write_shard(task, temporary, prepared, tf)
                digest = _sha256(temporary)
        except tf.errors.OpError as error:  # e.g. a full disk
            raise ConversionError(
                f"{task.path}: cannot write ({error.message.strip()})"
            ) from None
        yield shard_format.shard_entry(
            file=task.path.name,
            num_records=len(task.items),
            size=task.path.stat().st_size,
            sha256=digest,
        )


def _write_shard(task: ShardTask, temporary: Path, prepared, tf) -> None:
    """Write `task`'s records, in order, to the file `temporary`."""
    with tf.io.TFRecordWriter(str(temporary)) as writer:
        for item in task.items:
            image_format, height, width, label_png, shown = next(prepared)
            writer.write(
                shard_format.serialize_example(
                    image=item.image.read_bytes() if shown is None else shown,
                    image_format=image_format,
                    height=height,
                    width=width,
                    filename=item.id,
                    label_png=label_png,
                )
            )


# ------------------------------------------------------------------------ planning
def _item_fingerprint(item: Item) -> list:
    """What identifies an item's content: paths, sizes and modification times."""
    fingerprint = [item.id, item.label_kind]
    if item.label_reading:  # how a folder's masks are read changes the labels
        fingerprint.append(repr(item.label_reading))
    for path in (item.image, item.label):
        if path is None:
            fingerprint.append(None)
        else:
            stat = path.stat()
            fingerprint.append([str(path), stat.st_size, stat.st_mtime_ns])
    return fingerprint


def plan_shards(
    split: str, items: Sequence[Item], out_dir: Path, shard_bytes: float
) -> list[ShardTask]:
    """Assign items to shards of about `shard_bytes` each, in a fixed shuffled order.

    Args:
        split: str. Split name, the shards' name prefix.
        items: sequence of Item. The split's good items.
        out_dir: Path. Where the shards go.
        shard_bytes: float. Target shard size, estimated from the input file sizes.

    Returns:
        list of ShardTask, the same for the same input.
    """
    ordered = sorted(items, key=lambda item: item.id)
    if not ordered:  # every item was bad and skipped
        return []
    random.Random(SHUFFLE_SEED).shuffle(ordered)
    total = sum(
        item.image.stat().st_size + (item.label.stat().st_size if item.label else 0)
        for item in ordered
    )
    count = max(1, min(len(ordered), math.ceil(total / shard_bytes)))
    per_shard = math.ceil(len(ordered) / count)
    chunks = [ordered[i : i + per_shard] for i in range(0, len(ordered), per_shard)]
    return [
        ShardTask(
            out_dir / shard_format.shard_name(split, index, len(chunks)), tuple(chunk)
        )
        for index, chunk in enumerate(chunks)
    ]


def _plan_key(task: ShardTask) -> str:
    text = json.dumps([FORMAT_VERSION, [_item_fingerprint(i) for i in task.items]])
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------ manifest
def read_manifest(out_dir: Path) -> dict:
    """The manifest in `out_dir`, or an empty one if there is none yet.

    Raises:
        ConversionError: for a manifest that cannot be read.
    """
    try:
        return shard_format.read_manifest(out_dir)
    except shard_format.ManifestError as error:
        raise ConversionError(f"{error}; delete it to start over") from None


# ------------------------------------------------------------------------ driver
@dataclasses.dataclass
class SplitReport:
    """Outcome of one split: written, skipped items, or refused for problems."""

    split: str
    num_images: int
    problems: list[str]
    written: bool
    shards_written: int = 0
    shards_reused: int = 0


def _map(function: Callable, tasks: Iterable, pool, chunksize: int = 1):
    if pool is None:
        return map(function, tasks)
    return pool.imap(function, tasks, chunksize=chunksize)


def recorded_files(manifest: dict, split: str | None = None) -> set[str]:
    """The shard files the manifest records as this converter's (listed, or planned
    before their writing began), of one split or of all; only names that are
    exactly shard names of their split, whatever an edited manifest holds."""
    names = set()
    for name, entry in manifest[shard_format.SPLITS].items():
        if split not in (None, name) or not isinstance(entry, dict):
            continue
        listed = [
            shard.get(shard_format.FILE)
            for shard in entry.get(shard_format.SHARDS, [])
            if isinstance(shard, dict)
        ]
        for file in [*listed, *entry.get(shard_format.PLANNED, [])]:
            if isinstance(file, str) and shard_format.is_shard_name(file, name):
                names.add(file)
    return names


def foreign_files(out_dir: Path, manifest: dict) -> list[str]:
    """The TFRecord files in `out_dir` that the manifest does not record as ours
    (another tool's, or another converter's with the same naming), sorted."""
    if not out_dir.is_dir():
        return []
    ours = recorded_files(manifest)
    return sorted(
        entry.name
        for entry in out_dir.iterdir()
        if entry.name.endswith(".tfrecord") and entry.name not in ours
    )


def _check_foreign(out_dir: Path, manifest: dict, force: bool) -> None:
    """Refuse an `out_dir` holding TFRecord files that are not ours, unless
    `force` (then those named as a converted split's shards are replaced)."""
    foreign = foreign_files(out_dir, manifest)
    if foreign and not force:
        shown = ", ".join(foreign[:4]) + (
            f" and {len(foreign) - 4} more" if len(foreign) > 4 else ""
        )
        raise ConversionError(
            f"{out_dir}: holds TFRecord files that its {MANIFEST} does not record "
            f"(another tool's?): {shown}; convert into another folder, or force "
            "(--force) to replace those named as the converted splits' shards"
        )


def _remove_stale(
    out_dir: Path, split: str, keep: set[str], recorded: set[str], force: bool
) -> None:
    """The split's shards that the manifest recorded and the plan no longer has,
    with `force` also unrecorded files of exactly its shard names, and the
    temporaries of killed writers. Nothing else is ever removed."""
    doomed = set(recorded)
    if force:
        doomed |= {
            entry.name
            for entry in out_dir.iterdir()
            if entry.is_file() and shard_format.is_shard_name(entry.name, split)
        }
    for name in sorted(doomed - keep):
        (out_dir / name).unlink(missing_ok=True)
    remove_stale_partials(out_dir / split, name=shard_format.shard_pattern(split))
    # An earlier version's temporaries: `.{split}-NNNNN-of-NNNNN.tfrecord.tmp-PID`.
    for path in out_dir.glob(f".{glob.escape(split)}-*.tmp-*"):
        if shard_format.is_shard_name(path.name[1:].rsplit(".tmp-", 1)[0], split):
            path.unlink()


def convert_split(
    split: str,
    items: Sequence[Item],
    dataset: DatasetDescriptor,
    out_dir: Path,
    manifest: dict,
    *,
    pool=None,
    shard_bytes: float = 150e6,
    skip_bad: bool = False,
    extra: dict | None = None,
    progress: bool = True,
    force: bool = False,
) -> SplitReport:
    """Inspect and write one split, updating `manifest` (and its file) as shards land.

    Args:
        split: str. Split name.
        items: sequence of Item. The split's items.
        dataset: DatasetDescriptor. Class count and ignore label.
        out_dir: Path. Output directory (exists).
        manifest: dict. The manifest being built; changed in place and written.
        pool: multiprocessing pool or None to work in this process.
        shard_bytes: float. Target shard size in bytes.
        skip_bad: bool. Write the good items of a split with problems, and record
            the bad ones in the manifest, instead of refusing the split.
        extra: dict or None. More facts to record for the split (list counts).
        progress: bool. Show progress bars.
        force: bool. Also replace files of exactly the split's shard names that
            the manifest does not record (see `convert`). Defaults to False.

    Returns:
        SplitReport.
    """
    if not items:  # an empty list file, an empty folder
        source = (extra or {}).get("source", "its source")
        problem = f"{split}: no images to convert ({source} lists none)"
        return SplitReport(split, 0, [problem], written=False)
    inspections = _inspect_all(split, items, dataset, pool, progress)
    problems = [problem for result in inspections for problem in result.problems]
    if problems and not skip_bad:
        return SplitReport(split, len(items), problems, written=False)
    good = [result for result in inspections if not result.problems]
    tasks = plan_shards(split, [result.item for result in good], out_dir, shard_bytes)
    previous = {
        shard[shard_format.FILE]: shard
        for shard in shard_format.listed_shards(
            manifest[shard_format.SPLITS].get(split, {})
        )
    }
    recorded = recorded_files(manifest, split)
    entry = _split_entry(inspections, dataset, len(tasks), extra)
    planned = {task.path.name for task in tasks}
    # Recorded before any file of these names is written: a run killed between a
    # shard's rename and its manifest entry leaves a file the next run knows.
    entry[shard_format.PLANNED] = sorted(planned | recorded)
    manifest[shard_format.SPLITS][split] = entry
    write_manifest(out_dir, manifest)
    _remove_stale(out_dir, split, planned, recorded, force)
    entry[shard_format.PLANNED] = sorted(planned)
    todo = _keep_finished(tasks, previous, entry)
    write_manifest(out_dir, manifest)
    _write_planned(split, todo, entry, out_dir, manifest, pool, progress)
    reused = len(tasks) - len(todo)
    return SplitReport(split, len(good), problems, True, len(todo), reused)


def _inspect_all(split, items, dataset, pool, progress) -> list[Inspection]:
    inspect = functools.partial(inspect_item, dataset=dataset)
    checks = _map(inspect, items, pool, chunksize=8)
    bar = progress_bar(
        checks,
        total=len(items),
        desc=f"{split}: check",
        unit="img",
        disable=not progress,
    )
    return list(bar)


def _split_entry(inspections, dataset: DatasetDescriptor, num_shards: int, extra):
    """The manifest entry of a split's good items: counts and class histogram."""
    good = [result for result in inspections if not result.problems]
    histogram = np.zeros(dataset.num_classes + 1, np.int64)
    images = np.zeros(dataset.num_classes, np.int64)  # images each class is in
    for result in good:
        if result.histogram is not None:
            histogram += np.asarray(result.histogram)
            images += np.asarray(result.histogram[:-1]) > 0
    skipped = [
        {"id": result.item.id, "problems": result.problems}
        for result in inspections
        if result.problems
    ]
    return shard_format.split_entry(
        num_images=len(good),
        num_shards=num_shards,
        class_pixels=histogram[:-1].tolist(),
        ignored_pixels=int(histogram[-1]),
        skipped=skipped,
        facts={shard_format.CLASS_IMAGES: images.tolist(), **(extra or {})},
    )


def _keep_finished(tasks, previous: dict, entry: dict) -> list:
    """Record the shards an earlier run finished (same plan, same bytes) in
    `entry`; return the (task, plan key) pairs still to write."""
    todo = []
    for task in tasks:
        key = _plan_key(task)
        known = previous.get(task.path.name)
        if (
            known
            and known.get(shard_format.PLAN) == key
            and task.path.is_file()
            and _sha256(task.path) == known[shard_format.SHA256]
        ):
            entry[shard_format.SHARDS].append(known)
        else:
            todo.append((task, key))
    return todo


def _write_planned(split, todo, entry, out_dir, manifest, pool, progress) -> None:
    """Write the shards still to write, recording each in the manifest as it lands."""
    bar = progress_bar(
        total=sum(len(task.items) for task, _ in todo),
        desc=f"{split}: write",
        unit="img",
        disable=not progress,
    )
    keys = {task.path.name: key for task, key in todo}
    for shard in write_shards([task for task, _ in todo], pool):
        shard[shard_format.PLAN] = keys[shard[shard_format.FILE]]
        entry[shard_format.SHARDS].append(shard)
        entry[shard_format.SHARDS].sort(key=lambda listed: listed[shard_format.FILE])
        write_manifest(out_dir, manifest)
        bar.update(shard[shard_format.NUM_RECORDS])
    bar.close()


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what happens.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_pool(workers: int):
    """A spawn-based process pool, or None for `workers <= 1` (work in-process).

    The workers ignore SIGINT from their first instruction (they start with it
    ignored, so a Ctrl-C while they import cannot kill one with a traceback and
    break the pool): on Ctrl-C the parent terminates them (`convert`).
    """
    if workers <= 1:
        return None
    with ignoring_interrupts():
        return multiprocessing.get_context("spawn").Pool(
            workers, initializer=_ignore_interrupts
        )


@contextlib.contextmanager
def ignoring_interrupts():
    """SIGINT ignored while the block starts processes: they begin with it
    ignored (SIG_IGN survives exec, a Python handler does not). A Ctrl-C in those
    moments is lost; the parent's handler is back after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def convert(
    splits: dict[str, Sequence[Item]],
    dataset: DatasetDescriptor,
    out_dir: Path,
    *,
    options: ConversionOptions | None = None,
    split_facts: dict[str, dict] | None = None,
) -> list[SplitReport]:
    """Convert every split into `out_dir`; see the module docstring for the rules.

    Args:
        splits: dict from split name to its items.
        dataset: DatasetDescriptor.
        out_dir: Path. Created if missing.
        options: ConversionOptions or None (the defaults).
        split_facts: dict or None. Per split, facts to record in the manifest.

    Returns:
        One SplitReport per split, in the order given.

    Raises:
        SplitNameError: a split name that is not a plain name.
        ConversionError: TFRecord files that are not ours (without `force`), an
            unreadable manifest.

    Example:
        >>> convert({"val": items}, DATASETS["voc"], Path("data/voc"),
        ...         options=ConversionOptions(workers=2))
    """
    options = options or ConversionOptions()
    for split in splits:
        shard_format.check_split_name(split)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir / LOCK_FILE, str(out_dir)):
        manifest = read_manifest(out_dir)
        _check_foreign(out_dir, manifest, options.force)
        return _convert_locked(splits, dataset, out_dir, manifest, options, split_facts)


def _convert_locked(splits, dataset, out_dir, manifest, options, split_facts):
    shard_format.set_dataset(
        manifest,
        dataset=dataset.name,
        num_classes=dataset.num_classes,
        ignore_label=dataset.ignore_label,
        descriptor=dataset.to_json(),
    )
    pool = make_pool(options.workers)
    finished = False
    try:
        reports = [
            convert_split(
                split,
                items,
                dataset,
                out_dir,
                manifest,
                pool=pool,
                shard_bytes=options.shard_bytes,
                skip_bad=options.skip_bad,
                extra=(split_facts or {}).get(split),
                progress=options.progress,
                force=options.force,
            )
            for split, items in splits.items()
        ]
        finished = True
        return reports
    finally:
        if pool is not None:
            # Interrupted (Ctrl-C, an error): end the workers now, as waiting for
            # their queued tasks could take minutes.
            if finished:
                pool.close()
            else:
                pool.terminate()
            pool.join()


def verify(out_dir: Path, progress: bool = True) -> list[str]:
    """Re-read every shard named in the manifest and check it against the manifest.

    Args:
        out_dir: Path. A converter's output directory.
        progress: bool. Show a progress bar.

    Returns:
        The problems found (empty when every shard matches), one line each.
    """
    import tensorflow as tf

    manifest = read_manifest(out_dir)
    if not manifest[shard_format.SPLITS]:
        return [f"{out_dir / MANIFEST}: no splits recorded"]
    problems = []
    for split, entry in sorted(manifest[shard_format.SPLITS].items()):
        problems += _verify_split(out_dir, split, entry, progress, tf)
    return problems


def _verify_split(out_dir: Path, split: str, entry: dict, progress, tf) -> list[str]:
    """One split's problems: shards unfinished, unlisted, missing, changed, or
    holding other counts than the manifest says."""
    shards = shard_format.listed_shards(entry)
    problems = []
    if len(shards) != entry[shard_format.NUM_SHARDS]:
        problems.append(
            f"{split}: {len(shards)} of {entry[shard_format.NUM_SHARDS]} shards "
            "written; re-run the converter to finish"
        )
    listed = {shard[shard_format.FILE] for shard in shards}
    for path in sorted(out_dir.glob(shard_format.shard_pattern(split))):
        if path.name not in listed:
            problems.append(
                f"{path}: a {split} shard {MANIFEST} does not list (left by "
                "another run; readers ignore it)"
            )
    total, unreadable = 0, False
    verified = progress_bar(
        shards, desc=f"{split}: verify", unit="shard", disable=not progress
    )
    for shard in verified:
        count, found = _verify_shard(out_dir / shard[shard_format.FILE], shard, tf)
        problems += found
        unreadable = unreadable or count is None
        total += count or 0
    expected = entry[shard_format.NUM_IMAGES]
    if total != expected and not unreadable:
        problems.append(f"{split}: {total} records, manifest says {expected} images")
    return problems


def _verify_shard(path: Path, shard: dict, tf) -> tuple[int | None, list[str]]:
    """(records read, None if it cannot be read through; its problems)."""
    if not path.is_file():
        return None, [f"{path}: shard missing"]
    problems = []
    if _sha256(path) != shard[shard_format.SHA256]:
        problems.append(f"{path}: sha256 differs from the manifest")
    count, unreadable = _count_records(path, tf)
    if unreadable:
        return None, [*problems, unreadable]
    if count != shard[shard_format.NUM_RECORDS]:
        expected = shard[shard_format.NUM_RECORDS]
        problems.append(f"{path}: {count} records, manifest says {expected}")
    return count, problems


def _count_records(path: Path, tf) -> tuple[int, str]:
    count = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            shard_format.parse_example(record)
            count += 1
    except (tf.errors.DataLossError, ValueError) as error:
        return count, f"{path}: unreadable record after {count} ({error})"
    return count, ""
