"""COCO-format annotations (MS-COCO, or an annotation tool's export) to TFRecord shards.

    python -m tfrecords_tools.coco --annotations instances_train2017.json \
        --images train2017 --out DIR --split train [--categories voc|all|FILE]
        [--min-pixels N] [--name NAME] [--follow-links]

Each image's instances are rasterised by `pycocotools` (the official COCO API) in
the worker processes: polygons of one or several parts, RLE uncompressed and
compressed. The label map is the class of each kept instance's pixels; where two
kept instances overlap, and inside a crowd region (`iscrowd`) of a kept category,
the pixel is the ignore label (255), as torchvision's DeepLabv3 COCO reference and
COCO's own evaluation do.

- `--categories voc`: the 20 COCO categories that are VOC classes take VOC's ids
  (airplane -> aeroplane, dining table -> diningtable, motorcycle -> motorbike,
  couch -> sofa, tv -> tvmonitor, potted plant -> pottedplant, ...); every other
  category is background. `all`: the file's categories by id become 1..K, 0 is
  background. `FILE`: a JSON object mapping category names to class names.
- `--min-pixels N` (default 1000 for a split named `train`, else 0) drops images
  whose kept, non-crowd instances cover fewer than N pixels (their summed mask
  areas, torchvision's rule); the manifest records how many were dropped.

What the file says is checked before any work, each fault listed in one line: every
entry's keys and kinds, ids and category names given once, every `file_name`
inside `--images` (no `..`, no absolute path, links resolved: a link out of it
only with `--follow-links`), each image's size in the file equal to the image's as
shown (its EXIF orientation applied), polygons within one image size around the
image and no longer than its every pixel outlined (pycocotools' work per annotation
stays bounded), RLE sizes equal to the image's. Record ids are the files' stems;
where two files share one (`a.jpg`, `sub/a.jpg`) their paths (`sub_a`).

The conversion is the other converters' engine (`conversion.convert`), and the
manifest records the dataset's descriptor, so recipes use the shards as any folder
dataset (`data.dataset: from_shards`). Runs with other `--split`s into one `--out`
share one manifest.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

from tfdeeplab import shard_format
from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.cli import OneLineArgumentParser, path_argument
from tfrecords_tools.class_table import ClassTable, folder_descriptor, merged_splits
from tfrecords_tools.cli import converter_main
from tfrecords_tools.conversion import (
    ConversionError,
    ConversionOptions,
    Item,
    SplitReport,
    convert,
)
from tfrecords_tools.inputs import listed, relative_file
from tfrecords_tools.labels import COCO_IGNORE_LABEL, coco_rle, is_integer

IGNORE_LABEL = COCO_IGNORE_LABEL
MAX_SIDE = 65535  # JPEG's largest side; the image itself is checked against it
# COCO category name -> VOC class name (the 20 VOC classes COCO has).
VOC_OF_COCO = {
    "airplane": "aeroplane",
    "bicycle": "bicycle",
    "bird": "bird",
    "boat": "boat",
    "bottle": "bottle",
    "bus": "bus",
    "car": "car",
    "cat": "cat",
    "chair": "chair",
    "cow": "cow",
    "dining table": "diningtable",
    "dog": "dog",
    "horse": "horse",
    "motorcycle": "motorbike",
    "person": "person",
    "potted plant": "pottedplant",
    "sheep": "sheep",
    "couch": "sofa",
    "train": "train",
    "tv": "tvmonitor",
}


def read_coco(path: Path) -> dict:
    """The COCO JSON at `path`, checked to have images, annotations and categories.

    Raises:
        ConversionError: one line naming the file.
    """
    if not path.is_file():
        raise ConversionError(f"--annotations {path}: no such file")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(f"{path}: not valid JSON ({error})") from None
    missing = [
        key
        for key in ("images", "annotations", "categories")
        if not isinstance(record, dict) or not isinstance(record.get(key), list)
    ]
    if missing:
        raise ConversionError(
            f"{path}: not a COCO annotation file (no {', '.join(missing)} list)"
        )
    faults = structure_faults(record)
    if faults:
        raise ConversionError(
            f"{path}: {len(faults)} entries not as COCO has them: "
            f"{listed(faults, separator='; ')}"
        )
    _refuse_twice(path, "image ids", [image["id"] for image in record["images"]])
    _refuse_twice(path, "category ids", [c["id"] for c in record["categories"]])
    _refuse_twice(path, "category names", [c["name"] for c in record["categories"]])
    return record


# What each entry of the three lists must hold: key -> (check, what it must be).
_SIDE = (lambda v: is_integer(v) and 0 < v <= MAX_SIDE, f"an integer 1..{MAX_SIDE}")
_FIELDS = {
    "images": {
        "id": (is_integer, "an integer"),
        "file_name": (lambda v: isinstance(v, str) and v != "", "a file name"),
        "height": _SIDE,
        "width": _SIDE,
    },
    "categories": {
        "id": (is_integer, "an integer"),
        "name": (lambda v: isinstance(v, str) and v != "", "a name"),
    },
    "annotations": {
        "image_id": (is_integer, "an integer"),
        "category_id": (is_integer, "an integer"),
        "segmentation": (lambda v: isinstance(v, list | dict), "polygons or an RLE"),
    },
}


def structure_faults(record: dict) -> list[str]:
    """Every entry of `images`, `categories` and `annotations` that lacks a key
    the conversion reads or holds a value of another kind, one line each
    (`images[3]: height: expected an integer 1..65535, got '48x'`)."""
    faults = []
    for key, fields in _FIELDS.items():
        for index, entry in enumerate(record[key]):
            if not isinstance(entry, dict):
                faults.append(f"{key}[{index}]: not an object")
                continue
            for field, (valid, expected) in fields.items():
                if field not in entry:
                    faults.append(f"{key}[{index}]: no {field}")
                elif not valid(entry[field]):
                    shown = json.dumps(entry[field])[:40]
                    faults.append(
                        f"{key}[{index}]: {field}: expected {expected}, got {shown}"
                    )
            crowd = entry.get("iscrowd", 0)
            if key == "annotations" and crowd not in (0, 1, True, False):
                faults.append(f"{key}[{index}]: iscrowd: expected 0 or 1")
    return faults


def _refuse_twice(path: Path, what: str, values: list) -> None:
    counts = Counter(values)
    twice = sorted((str(v) for v, n in counts.items() if n > 1))
    if twice:
        raise ConversionError(f"{path}: {what} given twice: {listed(twice, 5)}")


def class_mapping(coco: dict, categories: str) -> tuple[dict[int, int], tuple]:
    """(category id -> class id, class names) for `--categories`.

    Raises:
        ConversionError: a FILE that is not a JSON object of names, or naming a
            category the annotations do not have.
    """
    names = {category["id"]: category["name"] for category in coco["categories"]}
    if categories == "voc":
        voc = DATASETS["voc"].class_names
        mapping = {
            cid: voc.index(VOC_OF_COCO[name])
            for cid, name in names.items()
            if name in VOC_OF_COCO
        }
        return mapping, voc
    if categories == "all":
        ordered = sorted(names)
        return {cid: i + 1 for i, cid in enumerate(ordered)}, (
            "background",
            *(names[cid] for cid in ordered),
        )
    path = Path(categories)
    try:
        chosen = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(
            f"--categories {path}: cannot read it ({error})"
        ) from None
    if not isinstance(chosen, dict) or not all(
        isinstance(v, str) for v in chosen.values()
    ):
        raise ConversionError(
            f"{path}: expected a JSON object of category name -> class name"
        )
    unknown = sorted(set(chosen) - set(names.values()))
    if unknown:
        raise ConversionError(f"{path}: categories not in the annotations: {unknown}")
    classes = ["background"]
    for name in chosen.values():
        if name not in classes:
            classes.append(name)
    by_name = {name: cid for cid, name in names.items()}
    mapping = {by_name[c]: classes.index(k) for c, k in chosen.items()}
    return mapping, tuple(classes)


def _kept_area(instances, classes: dict, height: int, width: int) -> float:
    from pycocotools import mask as coco_mask

    area = 0.0
    for category, iscrowd, text in instances:
        if category in classes and not iscrowd:
            try:
                area += float(coco_mask.area(coco_rle(json.loads(text), height, width)))
            except (ValueError, TypeError, KeyError):
                continue  # the conversion lists it
    return area


def record_ids(file_names: list[str]) -> list[str]:
    """A distinct record id per image: its file's stem, or where two files share a
    stem (`a.jpg`, `sub/a.jpg`), the path without its suffix, `/` as `_` (`sub_a`).

    Raises:
        ConversionError: ids that are still not distinct (`a.jpg` and `a.png`).

    Example:
        >>> record_ids(["a.jpg", "sub/a.jpg", "b.png"])
        ['a', 'sub_a', 'b']
    """
    paths = [PurePosixPath(name.replace("\\", "/")) for name in file_names]
    stems = Counter(path.stem for path in paths)
    ids = [
        path.stem
        if stems[path.stem] == 1 or len(path.parts) == 1
        else "_".join([*path.parts[:-1], path.stem])
        for path in paths
    ]
    twice = Counter(ids)
    clashes = sorted(
        f"{name} ({twice[record]} files)"
        for name, record in zip(file_names, ids, strict=True)
        if twice[record] > 1
    )
    if clashes:
        raise ConversionError(
            f"images whose record ids would be one: {listed(clashes)} (rename them)"
        )
    return ids


def coco_items(
    coco: dict,
    images: Path,
    mapping: dict[int, int],
    annotations_path: Path,
    follow_links: bool = False,
) -> list[Item]:
    """An Item per image, its instances grouped once; label reading in workers.

    Raises:
        ConversionError: annotations naming unknown images or categories, image
            files outside `images` (`inputs.relative_file`), or record ids that
            cannot be told apart (`record_ids`).
    """
    known_images = {image["id"]: image for image in coco["images"]}
    known_categories = {category["id"] for category in coco["categories"]}
    grouped = defaultdict(list)
    unknown = []
    for annotation in coco["annotations"]:
        image_id, category = annotation.get("image_id"), annotation.get("category_id")
        if image_id not in known_images or category not in known_categories:
            unknown.append(
                f"annotation {annotation.get('id')}: image {image_id}, category "
                f"{category}"
            )
            continue
        grouped[image_id].append(
            (
                category,
                int(bool(annotation.get("iscrowd", 0))),
                json.dumps(annotation.get("segmentation")),
            )
        )
    if unknown:
        shown = "; ".join(unknown[:3]) + (
            f"; {len(unknown) - 3} more" if len(unknown) > 3 else ""
        )
        raise ConversionError(
            f"{annotations_path}: annotations of unknown images or categories: {shown}"
        )
    pairs = tuple(sorted(mapping.items()))
    ordered = sorted(known_images.items())
    paths = [
        relative_file(images, image["file_name"], follow_links) for _, image in ordered
    ]
    outside = [
        f"image {image_id} {json.dumps(image['file_name'])}"
        for (image_id, image), path in zip(ordered, paths, strict=True)
        if path is None
    ]
    if outside:
        raise ConversionError(
            f"{annotations_path}: file names outside --images {images}: "
            f"{listed(outside)} (only files inside it are read)"
        )
    ids = record_ids([image["file_name"] for _, image in ordered])
    items = []
    for (image_id, image), path, record_id in zip(ordered, paths, ids, strict=True):
        size = (image["height"], image["width"])
        reading = (*size, tuple(grouped.get(image_id, ())), pairs)
        items.append(
            Item(record_id, path, annotations_path, "coco", reading, declared_size=size)
        )
    return items


def convert_coco(
    annotations: Path,
    images: Path,
    out: Path,
    *,
    split: str,
    categories: str = "voc",
    min_pixels: int | None = None,
    name: str | None = None,
    follow_links: bool = False,
    options: ConversionOptions | None = None,
    log=print,
) -> list[SplitReport]:
    """Convert one COCO annotation file and its images into split `split` of `out`.

    Example:
        >>> convert_coco(Path("instances_val2017.json"), Path("val2017"),
        ...              Path("data/coco_voc"), split="val")
    """
    shard_format.check_split_name(split, "--split")
    coco = read_coco(annotations)
    mapping, names = class_mapping(coco, categories)
    table = ClassTable(tuple(names))
    table.check(IGNORE_LABEL, f"--categories {categories}")
    if not images.is_dir():
        raise ConversionError(f"--images {images}: not a directory")
    items = coco_items(coco, images, mapping, annotations, follow_links)
    threshold = (1000 if split == "train" else 0) if min_pixels is None else min_pixels
    kept = [
        item
        for item in items
        if threshold <= 0
        or _kept_area(item.label_reading[2], mapping, *item.label_reading[:2])
        >= threshold
    ]
    dropped = len(items) - len(kept)
    log(
        f"{split}: {len(kept)} images ({dropped} with fewer than {threshold} pixels "
        f"of a kept class dropped), {len(names)} classes ({categories})"
    )
    descriptor = folder_descriptor(
        name or out.resolve().name,
        table,
        IGNORE_LABEL,
        merged_splits(out, table, {split: len(kept)}),
        f"python -m tfrecords_tools.coco --annotations {annotations} --images "
        f"{images} --split {split} --out {{root}}",
    )
    if categories == "voc":  # VOC's own colours and names
        descriptor = dataclasses.replace(descriptor, colours=DATASETS["voc"].colours)
    facts = {
        split: {
            "source": str(annotations),
            "categories": categories,
            "min_pixels": threshold,
            "dropped_below_min_pixels": dropped,
        }
    }
    return convert(
        {split: kept},
        descriptor,
        out,
        split_facts=facts,
        options=options,
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfrecords_tools.coco",
        description="Convert COCO-format annotations to TFRecord shards.",
    )
    parser.add_argument("--annotations", type=path_argument, help="COCO JSON file")
    parser.add_argument("--images", type=path_argument, help="the images' folder")
    parser.add_argument("--split", help="the split these images are (train, val)")
    parser.add_argument("--categories", default="voc", help="voc, all or a JSON FILE")
    parser.add_argument("--min-pixels", type=int, metavar="N")
    parser.add_argument("--name", help="the dataset's name (default: --out's name)")
    parser.add_argument(
        "--follow-links",
        action="store_true",
        help="read links in --images that point outside it (refused by default)",
    )
    return converter_main(
        parser,
        argv,
        lambda args, options: convert_coco(
            args.annotations,
            args.images,
            args.out,
            split=args.split,
            categories=args.categories,
            min_pixels=args.min_pixels,
            name=args.name,
            follow_links=args.follow_links,
            options=options,
        ),
        lambda args: (
            None
            if args.annotations and args.images and args.split is not None
            else "--annotations, --images and --split are required"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
