"""`python -m tfdeeplab.demo [--dir runs/demo] [--steps N]`: the main job, end to end.

Writes a small synthetic dataset in the real VOC 2012 and SBD layouts, converts it
to TFRecord shards with `tfrecords_tools.voc` (as real data would be), then trains
`recipes/demo.yaml` (a small ResNet DeepLab) on it with `python -m tfdeeplab.train`:
checkpoints, TensorBoard logs, validation mIoU and the end-of-run summary, in a
few minutes on a CPU. Running it again resumes the run (and finishes at once).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml"


def write_demo_shards(
    directory: Path,
    train_images: int = 400,
    val_images: int = 40,
    size: tuple[int, int] = (120, 160),
    seed: int = 0,
) -> Path:
    """Synthetic VOC + SBD source trees under `directory`, converted to shards.

    The SBD part holds most training images, VOC the rest and `val`, so the
    converter's `train_aug` arithmetic runs as on the real data.

    Args:
        directory: Path. Created if missing; shards go to `directory/shards`.
        train_images: int. Images in `train_aug`.
        val_images: int. Images in `val`.
        size: (height, width) of every image.
        seed: int. Content seed.

    Returns:
        The shards directory.

    Example:
        >>> shards = write_demo_shards(Path("runs/demo/data"))
    """
    from tfdeeplab.synthetic_datasets import voc_id, write_sbd_tree, write_voc_tree
    from tfrecords_tools import voc

    shards = directory / "shards"
    if (shards / "manifest.json").is_file():
        return shards
    ids = [voc_id(index) for index in range(train_images + val_images)]
    voc_train, sbd_train = (
        ids[: train_images // 4],
        ids[train_images // 4 : train_images],
    )
    val = ids[train_images:]
    sources = directory / "sources"
    voc_root = write_voc_tree(
        sources, voc_train, val, size=size, seed=seed, extra_image_ids=sbd_train
    )
    sbd_root = write_sbd_tree(sources, sbd_train, [], size=size, seed=seed)
    arguments = ["--voc-root", str(voc_root), "--sbd-root", str(sbd_root)]
    arguments += ["--out", str(shards), "--quiet", "--shard-mb", "0.2"]
    if voc.main(arguments) != 0:
        raise RuntimeError(f"converting the demo data into {shards} failed")
    return shards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfdeeplab.demo", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("runs/demo"),
        help="run directory; the data go to DIR/data (default runs/demo)",
    )
    parser.add_argument("--steps", type=int, default=0, help="train.max_steps")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    shards = write_demo_shards(args.dir / "data")
    print(f"demo data: {shards}")
    from tfdeeplab import train

    overrides = [f"data.root={shards}"]
    if args.steps:
        overrides.append(f"train.max_steps={args.steps}")
    # The run directory is `--dir` itself: by default runs/demo, the recipe's own
    # default, so `python -m tfdeeplab.train recipes/demo.yaml` continues the demo.
    command = [str(RECIPE), "--workdir", str(args.dir), "--set", *overrides]
    print("python -m tfdeeplab.train " + " ".join(command))
    return train.main(command)


if __name__ == "__main__":
    sys.exit(main())
