"""`python -m tfdeeplab.evaluate RECIPE --checkpoint PATH [--split val] [--set k=v ...]
[--save-predictions DIR] [--json FILE] [--report DIR [--report-images K]]`

Evaluates a checkpoint (or a run directory's newest one, or `--weights FILE`) on a
split by SPEC §4's protocol as the recipe's `eval` section sets it: scales, sliding
window of the crop size, flip, dense CRF (in worker processes); with several GPUs
the images are spread over them. Prints every class's IoU, mIoU, pixel and mean
accuracy; `--json` writes them with the confusion matrix (and a confusion
picture beside it); `--report DIR` writes, from the same pass, the pictures a person
reads (the normalised confusion matrix, the IoU of each class beside its pixel share,
the K worst images), `index.html` and `report.json` with every image's scores; a run
directory's TensorBoard gets the figures (and the pictures) under `eval/`.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    non_negative_int,
    path_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.evaluate", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help=RECIPE_HELP)
    add_weights_arguments(parser)
    parser.add_argument("--split", help="split to evaluate (default: data.eval_split)")
    parser.add_argument(
        "--save-predictions",
        type=path_argument,
        metavar="DIR",
        help="write each prediction in the benchmark's format",
    )
    parser.add_argument(
        "--json", type=path_argument, help="also write the figures as JSON"
    )
    parser.add_argument(
        "--report",
        type=path_argument,
        metavar="DIR",
        help="write the report there: confusion.png, class_iou.png, worst.png, "
        "index.html, report.json (a new or empty folder, or an earlier report)",
    )
    parser.add_argument(
        "--report-images",
        type=non_negative_int,
        default=8,
        metavar="K",
        help="the worst images the report shows (default 8)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_override_argument(parser, "eval.flip=true")
    return parser


def _evaluate(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import evaluate

    report = evaluate(
        recipe,
        checkpoint=args.checkpoint,
        weights=args.weights,
        split=args.split,
        save_predictions=args.save_predictions,
        json_path=args.json,
        report=args.report,
        report_images=args.report_images,
        progress=not args.no_progress,
    )
    print(report.table())
    print(
        f"{report.images} images in {report.seconds:.1f} s "
        f"({report.images / report.seconds:.2f} images/s)"
    )
    if args.json:
        print(f"wrote {args.json} and {args.json.with_suffix('.confusion.png')}")
    if args.report:
        print(f"wrote the report {args.report / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
