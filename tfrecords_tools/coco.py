"""COCO-format annotations (MS-COCO, or an annotation tool's export) to TFRecord shards.

    python -m tfrecords_tools.coco --annotations instances_train2017.json \
        --images train2017 --out DIR --split train [--categories voc|all|FILE]
        [--min-pixels N] [--name NAME]

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

The conversion is the other converters' engine (`conversion.convert`), and the
manifest records the dataset's descriptor, so recipes use the shards as any folder
dataset (`data.dataset: from_shards`). Runs with other `--split`s into one `--out`
share one manifest.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.cli import OneLineArgumentParser, path_argument
from tfrecords_tools.cli import (
    add_common_arguments,
    engine_options,
    run_conversion,
    run_verify,
)
from tfrecords_tools.conversion import ConversionError, Item, SplitReport, convert
from tfrecords_tools.folder import ClassTable, folder_descriptor, merged_splits

IGNORE_LABEL = 255
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
    return record


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


def rasterise(height: int, width: int, instances: tuple, mapping: tuple) -> np.ndarray:
    """The label map of one image (see the module docstring).

    Args:
        height, width: int. The image's size in the JSON.
        instances: tuple of (category id, iscrowd, segmentation as JSON text).
        mapping: tuple of (category id, class id) pairs.

    Raises:
        ValueError: a segmentation that does not parse.
    """
    from pycocotools import mask as coco_mask

    classes = dict(mapping)
    label = np.zeros((height, width), np.uint8)
    covered = np.zeros((height, width), np.int32)
    crowd = np.zeros((height, width), bool)
    for category, iscrowd, text in instances:
        if category not in classes:
            continue
        mask = coco_mask.decode(_rle(json.loads(text), height, width)).astype(bool)
        if iscrowd:
            crowd |= mask
            continue
        label[mask] = classes[category]
        covered += mask
    label[(covered > 1) | crowd] = IGNORE_LABEL
    return label


def _rle(segmentation, height: int, width: int):
    """One RLE of a polygon list, an uncompressed or a compressed RLE."""
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, list):  # polygons, one or several parts
        if not segmentation or not all(
            isinstance(part, list) and len(part) >= 6 for part in segmentation
        ):
            raise ValueError("a polygon needs at least 3 points")
        return coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, dict) and "counts" in segmentation:
        if isinstance(segmentation["counts"], list):  # uncompressed
            return coco_mask.frPyObjects(segmentation, height, width)
        return {
            "size": segmentation["size"],
            "counts": segmentation["counts"].encode(),
        }
    raise ValueError("expected polygons or an RLE")


def _kept_area(instances, classes: dict, height: int, width: int) -> float:
    from pycocotools import mask as coco_mask

    area = 0.0
    for category, iscrowd, text in instances:
        if category in classes and not iscrowd:
            try:
                area += float(coco_mask.area(_rle(json.loads(text), height, width)))
            except (ValueError, TypeError, KeyError):
                continue  # the conversion lists it
    return area


def coco_items(
    coco: dict, images: Path, mapping: dict[int, int], annotations_path: Path
) -> list[Item]:
    """An Item per image, its instances grouped once; label reading in workers.

    Raises:
        ConversionError: annotations naming unknown images or categories.
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
    items = []
    for image_id, image in sorted(known_images.items()):
        reading = (
            int(image["height"]),
            int(image["width"]),
            tuple(grouped.get(image_id, ())),
            pairs,
        )
        stem = Path(image["file_name"]).stem
        items.append(
            Item(stem, images / image["file_name"], annotations_path, "coco", reading)
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
    workers: int = 1,
    shard_bytes: float = 150e6,
    skip_bad: bool = False,
    progress: bool = True,
    log=print,
) -> list[SplitReport]:
    """Convert one COCO annotation file and its images into split `split` of `out`.

    Example:
        >>> convert_coco(Path("instances_val2017.json"), Path("val2017"),
        ...              Path("data/coco_voc"), split="val")
    """
    coco = read_coco(annotations)
    mapping, names = class_mapping(coco, categories)
    items = coco_items(coco, images, mapping, annotations)
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
    table = ClassTable(tuple(names))
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
        workers=workers,
        shard_bytes=shard_bytes,
        skip_bad=skip_bad,
        split_facts=facts,
        progress=progress,
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
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.verify:
        return run_verify(args.out, progress=not args.quiet)
    if not (args.annotations and args.images and args.split):
        parser.error("--annotations, --images and --split are required")
    return run_conversion(
        lambda: convert_coco(
            args.annotations,
            args.images,
            args.out,
            split=args.split,
            categories=args.categories,
            min_pixels=args.min_pixels,
            name=args.name,
            **engine_options(args),
        ),
        args.out,
    )


if __name__ == "__main__":
    sys.exit(main())
