"""`python -m tfdeeplab.demo [--dir runs/demo] [--steps N]`: the main job, end to end.

Writes a small synthetic dataset (textured objects of the 20 VOC classes on crops
of real photos) in the real VOC 2012 and SBD layouts, converts it to TFRecord
shards with `tfrecords_tools.voc` (as real data would be), then trains
`recipes/demo.yaml` (a small ResNet DeepLab) on it (checkpoints, TensorBoard logs,
validation mIoU), evaluates the final checkpoint by the recipe's protocol (with its
report: pictures, a page, per-image scores), exports
it as a SavedModel, predicts a real photo and demo validation images with the
SavedModel and prints where everything is (`tfdeeplab.experiment.demo`). Running
it again reuses each finished step (and says so); after Ctrl-C it continues.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    non_negative_int,
    path_argument,
    positive_int,
    run_command,
    start_tensorflow,
)
from tfdeeplab.demo_scenes import MIN_IMAGE_SIDE


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.demo", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "--dir",
        type=path_argument,
        default=Path("runs/demo"),
        help="run directory; the data go to DIR/data (default runs/demo)",
    )
    parser.add_argument(
        "--steps", type=non_negative_int, default=0, help="train.max_steps"
    )
    parser.add_argument(
        "--images",
        type=positive_int,
        nargs=2,
        default=(400, 40),
        metavar=("TRAIN", "VAL"),
        help="images written in train_aug and val (default 400 40); sets "
        "data.num_train_images",
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        nargs=2,
        default=(120, 160),
        metavar=("HEIGHT", "WIDTH"),
        help=f"size of the demo images, at least {MIN_IMAGE_SIDE} (default 120 160)",
    )
    add_override_argument(parser, "train.max_steps=10")
    return parser


def _demo(args) -> int:
    start_tensorflow()
    from tfdeeplab.experiment import demo

    result = demo(
        args.dir,
        steps=args.steps,
        images=tuple(args.images),
        image_size=tuple(args.image_size),
        overrides=args.overrides,
    )
    if result.stopped_by:  # the shell's convention for a process a signal stopped
        return 128 + signal.Signals[result.stopped_by].value
    print(result.format())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: _demo(args),
        interrupted="interrupted: every finished step is kept; run the same "
        "command to continue",
        flags={
            "directory": "--dir",
            "images": "--images",
            "image_size": "--image-size",
        },
    )


if __name__ == "__main__":
    sys.exit(main())
