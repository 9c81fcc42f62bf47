"""`python -m tfdeeplab.train RECIPE.yaml [--workdir DIR] [--init FILE|RUN] [--set k=v]`

Trains a recipe in a run directory (default `runs/<recipe name>`): checkpoints,
TensorBoard logs and the resolved recipe go there, and running the same command
again continues from the newest checkpoint. Ctrl-C or SIGTERM finishes the current
step, writes a checkpoint and exits (130 or 143). On several machines set TF_CONFIG
on each (see README, "Several machines") and run the same command everywhere.
"""

from __future__ import annotations

import signal
import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    path_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.train", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help=RECIPE_HELP)
    parser.add_argument(
        "--workdir",
        type=path_argument,
        help="run directory (default: runs/<recipe name>)",
    )
    parser.add_argument(
        "--init",
        type=path_argument,
        help="initial weights: a .npz by variable path, a .weights.h5, or a run "
        "directory or checkpoint (another class count: all but the classifier); "
        "overrides train.init_weights, ignored when resuming",
    )
    add_override_argument(parser, "train.max_steps=100")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="a line every train.log_every steps instead of a progress bar",
    )
    return parser


def _train(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import train

    workdir = args.workdir or f"runs/{recipe.name}"
    summary = train(
        recipe,
        workdir,
        init_weights=str(args.init or ""),
        progress=not args.no_progress,
    )
    print(summary.format())
    if summary.stopped_by:  # the shell's convention for a process a signal stopped
        return 128 + signal.Signals[summary.stopped_by].value
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _train(args))


if __name__ == "__main__":
    sys.exit(main())
