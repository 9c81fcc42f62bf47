"""`python -m tfdeeplab.compare RECIPE RECIPE... --out DIR [--train [--base RECIPE]]
[--set k=v ...]`

Compares the learning-rate schedules of recipes (SPEC §3): plots each one's rate
against iterations at its real length (iterations per epoch from the recipe's image
count, batch and replicas) into DIR/learning_rate.png and writes the boundaries
(epochs, iterations, rate) to DIR/schedules.md and .json. With --train, trains each
recipe in DIR/runs/<name> on the same data and seed (--base takes the model, data
and everything but the schedule from one recipe, e.g. recipes/demo.yaml), evaluates
each final checkpoint by the recipe's protocol, and writes loss, mIoU and rate
curves (DIR/curves.png) and a summary (DIR/summary.md and .json). Running it again
resumes or reuses each run.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    non_negative_int,
    path_argument,
    positive_int,
    run_command,
    start_tensorflow,
)


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.compare", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "recipes",
        nargs="+",
        type=path_argument,
        metavar="RECIPE",
        help=f"recipes to compare, each {RECIPE_HELP}",
    )
    parser.add_argument(
        "--out",
        type=path_argument,
        required=True,
        metavar="DIR",
        help="output directory",
    )
    parser.add_argument(
        "--train", action="store_true", help="train and evaluate each recipe"
    )
    parser.add_argument(
        "--base",
        type=path_argument,
        metavar="RECIPE",
        help="with --train: train this recipe with each compared recipe's "
        "train.schedule and train.end_epoch (same model, data and seed)",
    )
    parser.add_argument(
        "--replicas",
        type=non_negative_int,
        default=0,
        help="replicas for the real-length schedules (default: train.replicas)",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=8,
        help="with --train: validations per run for the mIoU curve, unless "
        "--set train.validate_every=N (default 8)",
    )
    add_override_argument(parser, "data.root=runs/demo/data/shards")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: _compare(args), flags={"base": "--base", "train_runs": "--train"}
    )


def _compare(args) -> int:
    start_tensorflow()
    from tfdeeplab.experiment import compare

    comparison = compare(
        args.recipes,
        args.out,
        train_runs=args.train,
        base=args.base,
        replicas=args.replicas,
        points=args.points,
        overrides=args.overrides,
    )
    print(comparison.format())
    return 0


if __name__ == "__main__":
    sys.exit(main())
