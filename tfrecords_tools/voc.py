"""PASCAL VOC 2012 (+ SBD) to TFRecord shards.

    python -m tfrecords_tools.voc --voc-root VOCdevkit/VOC2012 \
        --sbd-root benchmark_RELEASE/dataset --out data/voc

Splits (SPEC §5), from the datasets' own list files:
- `train`, `val`, `trainval`: VOC's ImageSets/Segmentation lists (1,464 / 1,449 /
  2,913).
- `train_aug`: SBD train + SBD val + VOC train, minus VOC val (10,582), with
  `--sbd-root` only.
Labels: VOC's SegmentationClass palette PNGs (indices, never colours) where they
exist, SBD's cls/*.mat (GTcls.Segmentation) otherwise: VOC's label wins.
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
from tfrecords_tools.inputs import check_file_stems, read_list

VOC_DATASET = DATASETS["voc"]


def read_file_ids(path: Path) -> list[str]:
    """The ids of a list file whose ids name files (`JPEGImages/<id>.jpg`): each a
    file stem, never a path (`inputs.check_file_stems`).

    Raises:
        ConversionError: as `read_list`, or for an id that holds a path.
    """
    return check_file_stems(read_list(path), path)


def _require_dir(path: Path, flag: str, expected: str) -> None:
    if not path.is_dir():
        raise ConversionError(f"{flag} {path}: not a directory (expected {expected})")


def voc_splits(voc_root: Path, sbd_root: Path | None) -> tuple[dict, dict]:
    """The splits' items and the list counts behind them.

    Args:
        voc_root: Path. `VOCdevkit/VOC2012`.
        sbd_root: Path or None. SBD's `benchmark_RELEASE/dataset`.

    Returns:
        (dict split -> list of Item, dict split -> facts for the manifest).

    Raises:
        ConversionError: for a missing root or list file.
    """
    _require_dir(
        voc_root,
        "--voc-root",
        "VOCdevkit/VOC2012 with JPEGImages/, SegmentationClass/, ImageSets/",
    )
    lists = voc_root / "ImageSets" / "Segmentation"
    voc = {
        name: read_file_ids(lists / f"{name}.txt")
        for name in ("train", "val", "trainval")
    }

    def voc_item(image_id: str) -> Item:
        return Item(
            image_id,
            voc_root / "JPEGImages" / f"{image_id}.jpg",
            voc_root / "SegmentationClass" / f"{image_id}.png",
            "palette_png",
        )

    splits = {name: [voc_item(i) for i in ids] for name, ids in voc.items()}
    facts = {
        name: {"source": f"VOC {name}.txt", "list_count": len(ids)}
        for name, ids in voc.items()
    }
    if sbd_root is None:
        return splits, facts

    _require_dir(
        sbd_root,
        "--sbd-root",
        "benchmark_RELEASE/dataset with img/, cls/, train.txt, val.txt",
    )
    sbd_train = read_file_ids(sbd_root / "train.txt")
    sbd_val = read_file_ids(sbd_root / "val.txt")
    voc_labelled = set(voc["trainval"])
    val = set(voc["val"])
    aug_ids = sorted((set(sbd_train) | set(sbd_val) | set(voc["train"])) - val)

    def aug_item(image_id: str) -> Item:
        if image_id in voc_labelled:
            return voc_item(image_id)
        image = voc_root / "JPEGImages" / f"{image_id}.jpg"
        if not image.is_file():
            image = sbd_root / "img" / f"{image_id}.jpg"
        return Item(image_id, image, sbd_root / "cls" / f"{image_id}.mat", "sbd_mat")

    splits["train_aug"] = [aug_item(i) for i in aug_ids]
    facts["train_aug"] = {
        "source": "(SBD train + SBD val + VOC train) - VOC val",
        "list_count": len(aug_ids),
        "sbd_train": len(sbd_train),
        "sbd_val": len(sbd_val),
        "voc_train": len(voc["train"]),
        "voc_val": len(voc["val"]),
        "labels_from_voc": sum(1 for i in aug_ids if i in voc_labelled),
        "labels_from_sbd": sum(1 for i in aug_ids if i not in voc_labelled),
    }
    return splits, facts


def select_splits(splits: dict, facts: dict, names) -> tuple[dict, dict]:
    """Only the splits named (all when `names` is empty).

    Raises:
        ConversionError: a name that is not a split of this dataset.
    """
    if not names:
        return splits, facts
    unknown = sorted(set(names) - set(splits))
    if unknown:
        raise ConversionError(f"--splits {unknown}: known splits are {sorted(splits)}")
    return {name: splits[name] for name in names}, {name: facts[name] for name in names}


def convert_voc(
    voc_root: Path,
    out: Path,
    *,
    sbd_root: Path | None = None,
    splits=(),
    options: ConversionOptions | None = None,
    log=print,
) -> list[SplitReport]:
    """Convert VOC 2012 (+ SBD) into shards in `out`: the converter as a function.

    Args:
        voc_root: Path. `VOCdevkit/VOC2012`.
        out: Path. The output directory.
        sbd_root: Path or None. SBD's `benchmark_RELEASE/dataset` (train_aug).
        splits: names of the splits to convert; empty for all.
        options: ConversionOptions or None: workers, shard size, bad files,
            progress bars, force (`conversion.ConversionOptions`).
        log: function taking one line of text (the split sizes).

    Returns:
        One SplitReport per split (a split with problems is not written unless
        `skip_bad`; its report lists them).

    Raises:
        ConversionError, LockHeldError: one line each.

    Example:
        >>> convert_voc(Path("VOCdevkit/VOC2012"), Path("data/voc"),
        ...             sbd_root=Path("benchmark_RELEASE/dataset"),
        ...             options=ConversionOptions(workers=8))
    """
    found, facts = voc_splits(voc_root, sbd_root)
    if sbd_root is None:
        log("note: no --sbd-root, so no train_aug split (SBD + VOC, 10,582 images)")
    found, facts = select_splits(found, facts, splits)
    for name, items in found.items():
        log(f"{name}: {len(items)} images ({facts[name]['source']})")
    return convert(
        found,
        VOC_DATASET,
        out,
        split_facts=facts,
        options=options,
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfrecords_tools.voc",
        description="Convert PASCAL VOC 2012 (+ SBD) to TFRecord shards.",
    )
    parser.add_argument("--voc-root", type=path_argument, help="VOCdevkit/VOC2012")
    parser.add_argument(
        "--sbd-root",
        type=path_argument,
        help="SBD benchmark_RELEASE/dataset (for train_aug)",
    )
    parser.add_argument(
        "--splits",
        nargs="*",
        help="only these splits (default: all; train_aug needs --sbd-root)",
    )
    return converter_main(
        parser,
        argv,
        lambda args, options: convert_voc(
            args.voc_root,
            args.out,
            sbd_root=args.sbd_root,
            splits=args.splits or (),
            options=options,
        ),
        lambda args: (
            None if args.voc_root else "--voc-root is required (unless --verify)"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
