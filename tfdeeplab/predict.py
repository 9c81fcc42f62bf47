"""`python -m tfdeeplab.predict --recipe RECIPE --checkpoint PATH IMAGES... --out DIR`
or `python -m tfdeeplab.predict --saved-model DIR IMAGES... --out DIR`

Label maps for image files (JPEG, PNG; folders are searched one level) by the recipe's
evaluation settings, or by an exported SavedModel (its own settings; class colours
from its `labels.json`): for each, a palette PNG in the dataset's colours and an
overlay JPEG. Files that cannot be read, or are too large for this machine's memory,
are listed and skipped (exit code 1 then). Running the same command again skips
what it finished (after Ctrl-C it continues); other outputs already in DIR are kept
unless `--force`.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    path_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.predict", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "images", nargs="+", type=path_argument, help="image files or folders"
    )
    parser.add_argument(
        "--recipe", help=f"the model's recipe, {RECIPE_HELP} (not with --saved-model)"
    )
    add_weights_arguments(parser, required=False)
    parser.add_argument(
        "--saved-model",
        type=path_argument,
        metavar="DIR",
        help="an exported SavedModel instead of recipe and weights",
    )
    parser.add_argument(
        "--out", type=path_argument, required=True, help="output directory"
    )
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")
    add_override_argument(parser, "eval.scales=[1.0]")
    return parser


def _check_choice(parser: OneLineArgumentParser, args) -> None:
    """--saved-model, or --recipe with --checkpoint or --weights (usage error)."""
    if args.saved_model is not None:
        given = [
            flag
            for flag, value in (
                ("--recipe", args.recipe),
                ("--checkpoint", args.checkpoint),
                ("--weights", args.weights),
                ("--set", args.overrides),
            )
            if value
        ]
        if given:
            parser.error(
                f"--saved-model takes no {given[0]}: the settings are in the "
                "exported model"
            )
    elif not args.recipe or not (args.checkpoint or args.weights):
        parser.error(
            "expected --recipe with --checkpoint or --weights, or --saved-model DIR"
        )


def _predict(args) -> int:
    recipe = None if args.saved_model else load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.evaluation.prediction import image_files
    from tfdeeplab.experiment import Predictor, predict_images

    images = image_files(args.images)
    if recipe is None:
        predictor = Predictor.from_saved_model(args.saved_model, crf=args.crf)
    else:
        predictor = Predictor.from_recipe(
            recipe, checkpoint=args.checkpoint, weights=args.weights, crf=args.crf
        )
    report = predict_images(predictor, images, args.out, force=args.force)
    for problem in report.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    print(report.format())
    return 1 if report.skipped else 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_choice(parser, args)
    return run_command(lambda: _predict(args))


if __name__ == "__main__":
    sys.exit(main())
