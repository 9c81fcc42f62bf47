"""Your own images and masks, in two folders, to TFRecord shards: no code to write.

    python -m tfrecords_tools.folder --images DIR --masks DIR --out DIR
        [--classes FILE] [--mask-format ids|palette|rgb] [--mask-suffix S] [--name NAME]
        [--split NAME | --split-lists DIR | --val-fraction 0.1 --seed 0]
        [--ignore-label 255] [--reduce-zero-label] [--follow-links] [--report]

- Images (JPEG, PNG) and masks (PNG) are found recursively and paired by file stem,
  a mask's stem possibly ending in `--mask-suffix` (CamVid's `X_L.png`: `_L`).
  Links are followed inside the two folders; a link pointing outside them is
  refused, naming it, unless `--follow-links`. A photo's EXIF orientation is
  applied as viewers apply it (`tfdeeplab.image_orientation`).
- Masks: `ids` (one channel of class ids, 8 or 16 bit), `palette` (a palette PNG
  whose indices are the ids, as VOC) or `rgb` (colours, mapped by the classes
  file); by default the first mask's mode decides. `--reduce-zero-label`: id 0 is
  unlabelled and the other ids shift down by one (ADE20K; mmsegmentation's
  `reduce_zero_label`). Transparent pixels (alpha 0) of an RGBA mask are the
  ignore label. At most 255 classes: ids 0..C-1 and the ignore label (C..255)
  share one byte; a class name or colour given twice is refused.
- `--classes`: one class name a line (`.txt`); a CSV with the header `name,r,g,b`
  (CamVid's `class_dict.csv`); or JSON `{"names": [...], "colours": [[r, g, b],
  ...], "ignore_label": 255}`. Without it, the ids found name the classes
  `class_<id>`, drawn in VOC's colour map.
- Splits: `--split NAME` (every pair; run again with other folders and the same
  `--out` to add a split), `--split-lists DIR` (`<split>.txt` files of stems, as
  VOC's ImageSets), `--val-fraction F --seed S` (a seeded random `val` split, the
  rest `train`), or, without any, the first level of folders when images and masks
  have the same ones (ADE20K's `training/` and `validation/`).

The conversion itself is the VOC and Cityscapes converters' (`conversion.convert`):
atomic, resumable shards, every bad file listed and nothing written for its split
(unless `--skip-bad`), `--verify`, one converter per folder, Ctrl-C. The manifest
records the dataset's descriptor (names, colours, ignore label, split sizes), so a
recipe for these shards needs only `data.root` (see `recipes/custom.yaml`).
"""

from __future__ import annotations

import dataclasses
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from tfdeeplab import shard_format
from tfdeeplab.cli import OneLineArgumentParser, path_argument
from tfrecords_tools import labels as label_readers
from tfrecords_tools.class_table import (
    ClassTable,
    folder_descriptor,
    merged_splits,
    read_classes,
)
from tfrecords_tools.cli import converter_main
from tfrecords_tools.conversion import (
    ConversionError,
    ConversionOptions,
    Item,
    SplitReport,
    convert,
)
from tfrecords_tools.inputs import listed, read_list, walk_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_SUFFIXES = (".png",)


def pair_files(
    images: Path, masks: Path, mask_suffix: str = "", follow_links: bool = False
) -> list[Item]:
    """Pair every image with its mask by stem; an unpaired file stays in the list
    with its partner's expected path, so the conversion lists it as missing.

    Args:
        images, masks: Path. The two folders, searched recursively.
        mask_suffix: str. What a mask's stem ends in beyond its image's.
        follow_links: bool. Read links that point outside the folders
            (`inputs.walk_files`); refused by default.

    Raises:
        ConversionError: a missing folder, links out of a folder, or two images
            (or masks) with one stem.
    """
    for flag, folder in (("--images", images), ("--masks", masks)):
        if not folder.is_dir():
            raise ConversionError(f"{flag} {folder}: not a directory")
    by_stem: dict[str, Path] = {}
    masks_by_stem: dict[str, Path] = {}
    twice = []
    for path in walk_files(images, IMAGE_SUFFIXES, follow_links):
        if path.stem in by_stem:
            twice.append(f"{by_stem[path.stem]} and {path}")
        by_stem[path.stem] = path
    for path in walk_files(masks, MASK_SUFFIXES, follow_links):
        stem = path.stem
        if mask_suffix:
            if not stem.endswith(mask_suffix):
                continue  # not a mask of this naming (CamVid keeps other files)
            stem = stem[: -len(mask_suffix)]
        if stem in masks_by_stem:
            twice.append(f"{masks_by_stem[stem]} and {path}")
        masks_by_stem[stem] = path
    if twice:
        shown = "; ".join(twice[:3]) + (
            f"; {len(twice) - 3} more" if len(twice) > 3 else ""
        )
        raise ConversionError(f"two files with one stem: {shown}")
    items = []
    for stem in sorted(set(by_stem) | set(masks_by_stem)):
        image = by_stem.get(stem) or images / f"{stem}.jpg"
        mask = masks_by_stem.get(stem) or masks / f"{stem}{mask_suffix}.png"
        items.append(Item(stem, image, mask, "folder_mask"))
    return items


def split_items(
    items: list[Item],
    images: Path,
    masks: Path,
    *,
    split: str | None = None,
    split_lists: Path | None = None,
    val_fraction: float | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[Item]], dict[str, dict]]:
    """The splits of the pairs, as the options say (see the module docstring).

    Returns:
        (dict split -> items, dict split -> facts for the manifest).

    Raises:
        ConversionError: a list naming a stem that is not a pair, or no way to
            split.
    """
    if split is not None:
        shard_format.check_split_name(split, "--split")
        return {split: items}, {split: {"source": f"--split {split}"}}
    if split_lists is not None:
        if not split_lists.is_dir():
            raise ConversionError(f"--split-lists {split_lists}: not a directory")
        by_id = {item.id: item for item in items}
        splits, facts = {}, {}
        for path in sorted(split_lists.glob("*.txt")):
            shard_format.check_split_name(path.stem, f"{path}: the split")
            ids = read_list(path)
            unknown = [i for i in ids if i not in by_id]
            if unknown:
                shown = ", ".join(unknown[:5]) + (
                    f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                )
                raise ConversionError(f"{path}: stems with no image and mask: {shown}")
            splits[path.stem] = [by_id[i] for i in ids]
            facts[path.stem] = {"source": path.name, "list_count": len(ids)}
        if not splits:
            raise ConversionError(f"--split-lists {split_lists}: no <split>.txt files")
        return splits, facts
    if val_fraction is not None:
        if not 0 < val_fraction < 1:
            raise ConversionError(f"--val-fraction {val_fraction}: expected 0 < F < 1")
        shuffled = list(items)
        random.Random(seed).shuffle(shuffled)
        count = max(1, round(len(shuffled) * val_fraction))
        source = f"--val-fraction {val_fraction} --seed {seed}"
        return (
            {"train": sorted(shuffled[count:], key=lambda i: i.id),
             "val": sorted(shuffled[:count], key=lambda i: i.id)},
            {"train": {"source": source}, "val": {"source": source}},
        )  # fmt: skip
    image_folders = {p.name for p in images.iterdir() if p.is_dir()}
    mask_folders = {p.name for p in masks.iterdir() if p.is_dir()}
    if image_folders and image_folders == mask_folders:
        for name in sorted(image_folders):
            shard_format.check_split_name(name, f"{images}: the folder")
        return _splits_of_folders(items, images, masks, sorted(image_folders))
    raise ConversionError(
        "no split given: pass --split NAME, --split-lists DIR or --val-fraction F "
        "(or give images and masks the same first-level folders, one per split)"
    )


def _splits_of_folders(items, images: Path, masks: Path, names: list[str]):
    """The splits of images and masks in first-level folders of one name each.

    Raises:
        ConversionError: files outside those folders, named in one line.
    """
    splits = {name: [] for name in names}
    stray = []
    for item in items:
        found = [
            (path, path.relative_to(root).parts)
            for path, root in ((item.image, images), (item.label, masks))
            if path.is_file()
        ]
        if all(len(parts) > 1 for _, parts in found) and found[0][1][0] in splits:
            splits[found[0][1][0]].append(item)
        else:  # an image or mask at the top level, beside the split folders
            stray += [str(path) for path, _ in found]
    if stray:
        raise ConversionError(
            f"files outside the split folders ({', '.join(names)}): "
            f"{listed(sorted(stray))} (move them into a split's folder, or say the "
            "split with --split, --split-lists or --val-fraction)"
        )
    return splits, {name: {"source": f"folder {name}/"} for name in splits}


def _found_ids(items: list[Item], reading: tuple) -> Counter:
    """Pixels of every id in the masks that can be read (for the class table)."""
    counts = Counter()
    for item in items:
        if not item.label.is_file():
            continue
        try:
            label = label_readers.read_folder_mask(item.label, *reading)
        except label_readers.LabelError:
            continue  # the conversion lists it
        values, numbers = np.unique(label, return_counts=True)
        counts.update(dict(zip(values.tolist(), numbers.tolist(), strict=True)))
    return counts


def convert_folder(
    images: Path,
    masks: Path,
    out: Path,
    *,
    classes: Path | None = None,
    mask_format: str | None = None,
    mask_suffix: str = "",
    name: str | None = None,
    split: str | None = None,
    split_lists: Path | None = None,
    val_fraction: float | None = None,
    seed: int = 0,
    ignore_label: int = 255,
    reduce_zero_label: bool = False,
    follow_links: bool = False,
    options: ConversionOptions | None = None,
    log=print,
) -> list[SplitReport]:
    """Convert a folder of images and one of masks into shards: the command as a
    function (its arguments are the command's options).

    Returns:
        One SplitReport per split.

    Raises:
        ConversionError, LockHeldError: one line each.

    Example:
        >>> convert_folder(Path("photos"), Path("masks"), Path("data/mine"),
        ...                classes=Path("classes.txt"), val_fraction=0.1)
    """
    if split is not None:
        shard_format.check_split_name(split, "--split")
    items = pair_files(images, masks, mask_suffix, follow_links)
    if not items:
        raise ConversionError(f"--images {images}: no JPEG or PNG images found")
    table, ignore_label = _classes_file(classes, ignore_label)
    mask_format = mask_format or _mask_format_of_files(items, masks, log)
    reading = _mask_reading(mask_format, table, reduce_zero_label, ignore_label)
    items = [dataclasses.replace(item, label_reading=reading) for item in items]
    found, facts = split_items(
        items,
        images,
        masks,
        split=split,
        split_lists=split_lists,
        val_fraction=val_fraction,
        seed=seed,
    )
    if table is None:  # the ids found name the classes
        table = _table_of_ids_found(items, reading, ignore_label, log)
        table.check(ignore_label, f"the ids found in {masks}")
    descriptor = folder_descriptor(
        name or out.resolve().name,
        table,
        ignore_label,
        merged_splits(out, table, {s: len(v) for s, v in found.items()}),
        f"python -m tfrecords_tools.folder --images {images} --masks {masks} "
        "--out {root}",
    )
    for split_name, split_items_ in found.items():
        log(f"{split_name}: {len(split_items_)} images ({facts[split_name]['source']})")
    return convert(
        found,
        descriptor,
        out,
        split_facts=facts,
        options=options,
    )


def _mask_reading(mask_format, table, reduce_zero_label, ignore_label) -> tuple:
    """How every mask is read: `labels.read_folder_mask`'s arguments after the
    path. `rgb` masks need the colours of a classes file."""
    if mask_format == "rgb" and not (table and table.colours):
        raise ConversionError(
            "--mask-format rgb: the colours come from --classes (a CSV name,r,g,b "
            "or JSON with colours)"
        )
    colours = table.colours if table else ()
    return (mask_format, colours, reduce_zero_label, ignore_label)


def _classes_file(classes: Path | None, ignore_label: int):
    """(the `--classes` table or None, the ignore label: the file's if it says),
    the table checked (`ClassTable.check`)."""
    if classes is None:
        return None, ignore_label
    table = read_classes(classes)
    if table.ignore_label is not None:
        ignore_label = table.ignore_label
    table.check(ignore_label, str(classes))
    return table, ignore_label


def _table_of_ids_found(items, reading, ignore_label: int, log) -> ClassTable:
    """`class_<id>` for ids 0 to the largest found (no `--classes`)."""
    ids = sorted(i for i in _found_ids(items, reading) if i != ignore_label)
    count = (max(ids) + 1) if ids else 1
    log(f"classes: {count} from the ids found (--classes FILE to name them)")
    return ClassTable(tuple(f"class_{i}" for i in range(count)))


def _mask_format_of_files(items: list[Item], masks: Path, log) -> str:
    """The first mask's format (`--mask-format` unsaid)."""
    first = next((item.label for item in items if item.label.is_file()), None)
    if first is None:
        raise ConversionError(f"--masks {masks}: no mask pairs an image")
    try:
        mask_format = label_readers.mask_format_of(first)
    except label_readers.LabelError as error:
        raise ConversionError(f"{first}: {error}") from None
    log(f"masks: {mask_format} (from {first.name}; --mask-format to say)")
    return mask_format


def class_report(out: Path) -> list[str]:
    """Per split and class: pixel share and images it appears in; classes that
    never appear. Read back from the manifest."""
    manifest = shard_format.read_manifest(out)
    descriptor = shard_format.descriptor_held(out)
    lines = []
    for split, entry in sorted(manifest[shard_format.SPLITS].items()):
        pixels = entry.get(shard_format.CLASS_PIXELS, [])
        images = entry.get(shard_format.CLASS_IMAGES, [0] * len(pixels))
        total = sum(pixels) or 1
        lines.append(f"{split}: {entry.get(shard_format.NUM_IMAGES, 0)} images")
        for class_id, (count, seen) in enumerate(zip(pixels, images, strict=False)):
            name = descriptor.class_name(class_id) if descriptor else str(class_id)
            lines.append(
                f"  {class_id:3d} {name:20s} {100 * count / total:6.2f}% of pixels, "
                f"in {seen} images"
            )
        never = [
            descriptor.class_name(i) if descriptor else str(i)
            for i, count in enumerate(pixels)
            if count == 0
        ]
        if never:
            lines.append(f"  never appear: {', '.join(never)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfrecords_tools.folder",
        description="Convert a folder of images and one of masks to TFRecord shards.",
    )
    parser.add_argument("--images", type=path_argument, help="folder of images")
    parser.add_argument("--masks", type=path_argument, help="folder of masks")
    parser.add_argument("--classes", type=path_argument, help=".txt, .csv or .json")
    parser.add_argument("--mask-format", choices=label_readers.MASK_FORMATS)
    parser.add_argument("--mask-suffix", default="", help="e.g. _L or _mask")
    parser.add_argument("--name", help="the dataset's name (default: --out's name)")
    splitting = parser.add_mutually_exclusive_group()
    splitting.add_argument("--split", help="put every pair in this split")
    splitting.add_argument("--split-lists", type=path_argument, metavar="DIR")
    splitting.add_argument("--val-fraction", type=float, metavar="F")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ignore-label", type=int, default=255)
    parser.add_argument("--reduce-zero-label", action="store_true")
    parser.add_argument(
        "--follow-links",
        action="store_true",
        help="read links that point outside --images and --masks (refused by default)",
    )
    parser.add_argument(
        "--report", action="store_true", help="print each class's pixels and images"
    )
    return converter_main(parser, argv, _convert_with, _usage_error)


def _usage_error(args) -> str | None:
    if args.images is None or args.masks is None:
        return "--images and --masks are required (unless --verify)"
    if not 0 <= args.ignore_label <= 255:
        return f"--ignore-label {args.ignore_label}: expected 0..255"
    return None


def _convert_with(args, options) -> list[SplitReport]:
    """The command's conversion, and with --report its class table."""
    reports = convert_folder(
        args.images,
        args.masks,
        args.out,
        classes=args.classes,
        mask_format=args.mask_format,
        mask_suffix=args.mask_suffix,
        name=args.name,
        split=args.split,
        split_lists=args.split_lists,
        val_fraction=args.val_fraction,
        seed=args.seed,
        ignore_label=args.ignore_label,
        reduce_zero_label=args.reduce_zero_label,
        follow_links=args.follow_links,
        options=options,
    )
    if args.report and any(report.written for report in reports):
        print("\n".join(class_report(args.out)))
    return reports


if __name__ == "__main__":
    sys.exit(main())
