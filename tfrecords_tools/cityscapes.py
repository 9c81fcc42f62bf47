"""Cityscapes to TFRecord shards.

    python -m tfrecords_tools.cityscapes --root cityscapes --out data/cityscapes \
        [--coarse]

Splits (SPEC §5): `train` (2,975), `val` (500) with gtFine labels, `test` (1,525,
images only) and, with `--coarse`, `train_extra` (19,998) with gtCoarse labels.
`*_labelIds.png` are mapped to the 19 train ids (255 = ignore) with the official table
of the `cityscapesscripts` package. Images stay the PNG files they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.cli import OneLineArgumentParser, path_argument
from tfrecords_tools.cli import converter_main
from tfrecords_tools.conversion import (
    ConversionError,
    ConversionOptions,
    Item,
    SplitReport,
    convert,
)

CITYSCAPES_DATASET = DATASETS["cityscapes"]
IMAGE_SUFFIX = "_leftImg8bit.png"
FINE_SPLITS = ("train", "val", "test")


def cityscapes_split(root: Path, split: str, annotation: str | None) -> list[Item]:
    """Items of one split: every `leftImg8bit/<split>/<city>/*_leftImg8bit.png`.

    Args:
        root: Path. The Cityscapes root (with leftImg8bit/, gtFine/, gtCoarse/).
        split: str. `train`, `val`, `test` or `train_extra`.
        annotation: str or None. `gtFine`, `gtCoarse`, or None for images only.

    Returns:
        list of Item, sorted by id; a missing label shows up when items are checked.

    Raises:
        ConversionError: when the split's image directory is missing or empty.
    """
    image_dir = root / "leftImg8bit" / split
    images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise ConversionError(f"{image_dir}: no */*{IMAGE_SUFFIX} images found")
    items = []
    for image in images:
        image_id = image.name[: -len(IMAGE_SUFFIX)]
        if annotation is None:
            items.append(Item(image_id, image, None, "none"))
            continue
        label = (
            root
            / annotation
            / split
            / image.parent.name
            / f"{image_id}_{annotation}_labelIds.png"
        )
        items.append(Item(image_id, image, label, "cityscapes_label_ids"))
    return items


def cityscapes_splits(root: Path, coarse: bool, names=None) -> tuple[dict, dict]:
    """All requested splits and the facts to record for them.

    Raises:
        ConversionError: for a missing root or split directory.
    """
    if not (root / "leftImg8bit").is_dir():
        raise ConversionError(
            f"--root {root}: no leftImg8bit/ directory (expected the Cityscapes root "
            "with leftImg8bit/ and gtFine/)"
        )
    plan = {"train": "gtFine", "val": "gtFine", "test": None}
    if coarse:
        plan["train_extra"] = "gtCoarse"
    if names:
        unknown = sorted(set(names) - set(plan))
        if unknown:
            raise ConversionError(
                f"--splits {unknown}: known splits are {sorted(plan)}"
            )
        plan = {name: plan[name] for name in names}
    splits = {
        name: cityscapes_split(root, name, annotation)
        for name, annotation in plan.items()
    }
    facts = {
        name: {"source": f"leftImg8bit/{name} + {annotation or 'no labels'}"}
        for name, annotation in plan.items()
    }
    return splits, facts


def convert_cityscapes(
    root: Path,
    out: Path,
    *,
    coarse: bool = False,
    splits=(),
    options: ConversionOptions | None = None,
    log=print,
) -> list[SplitReport]:
    """Convert Cityscapes into shards in `out`: the converter as a function.

    Args:
        root: Path. The Cityscapes root (leftImg8bit/, gtFine/, gtCoarse/).
        out: Path. The output directory.
        coarse: bool. Also `train_extra` with gtCoarse labels.
        splits: names of the splits to convert; empty for all.
        options: ConversionOptions or None: workers, shard size, bad files,
            progress bars, force (`conversion.ConversionOptions`).
        log: function taking one line of text (the split sizes).

    Returns:
        One SplitReport per split.

    Raises:
        ConversionError, LockHeldError: one line each.
    """
    found, facts = cityscapes_splits(root, coarse, splits or None)
    for name, items in found.items():
        log(f"{name}: {len(items)} images ({facts[name]['source']})")
    return convert(
        found,
        CITYSCAPES_DATASET,
        out,
        split_facts=facts,
        options=options,
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfrecords_tools.cityscapes",
        description="Convert Cityscapes to TFRecord shards.",
    )
    parser.add_argument(
        "--root", type=path_argument, help="Cityscapes root with leftImg8bit/, gtFine/"
    )
    parser.add_argument(
        "--coarse", action="store_true", help="also train_extra with gtCoarse"
    )
    parser.add_argument("--splits", nargs="*", help="only these splits")
    return converter_main(
        parser,
        argv,
        lambda args, options: convert_cityscapes(
            args.root,
            args.out,
            coarse=args.coarse,
            splits=args.splits or (),
            options=options,
        ),
        lambda args: None if args.root else "--root is required (unless --verify)",
    )


if __name__ == "__main__":
    sys.exit(main())
