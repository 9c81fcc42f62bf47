"""`python -m tfdeeplab.train RECIPE.yaml [--workdir DIR] [--init FILE] [--set k=v ...]`

Trains a recipe in a run directory (default `runs/<recipe name>`): checkpoints,
TensorBoard logs and the resolved recipe go there, and running the same command
again continues from the newest checkpoint. Ctrl-C or SIGTERM finishes the current
step, writes a checkpoint and exits (130 or 143). On several machines set TF_CONFIG
on each (see README, "Several machines") and run the same command everywhere.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from tfdeeplab.config.cli import add_override_argument, load_recipe_or_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfdeeplab.train", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    parser.add_argument(
        "--workdir", help="run directory (default: runs/<recipe name>)", default=""
    )
    parser.add_argument(
        "--init",
        default="",
        help="initial weights (.npz by variable path, or .weights.h5); "
        "overrides train.init_weights, ignored when resuming",
    )
    add_override_argument(parser, "train.max_steps=100")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="a line every train.log_every steps instead of a progress bar",
    )
    args = parser.parse_args(argv)

    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tfdeeplab.data.records import CorruptShardError, ShardsMismatchError
    from tfdeeplab.data.shard_format import ManifestError
    from tfdeeplab.run_directory import RunInUseError
    from tfdeeplab.training.checkpoints import CheckpointError
    from tfdeeplab.training.resume import RecipeChangedError
    from tfdeeplab.training.strategy import DistributionError
    from tfdeeplab.training.trainer import TrainingDiverged, train
    from tfdeeplab.weights.loader import InitialWeightsError

    # Each a one-line error, exit code 2: nothing was lost, the line says what to do.
    cannot_run = (
        FileNotFoundError,
        InitialWeightsError,
        DistributionError,
        ShardsMismatchError,
        CorruptShardError,
        ManifestError,
        RecipeChangedError,
        RunInUseError,
        CheckpointError,
    )

    workdir = args.workdir or os.path.join("runs", recipe.name)
    try:
        summary = train(
            recipe,
            workdir,
            init_weights=args.init,
            progress=not args.no_progress,
        )
    except cannot_run as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. a work directory that cannot be written
        where = error.filename or workdir
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(summary.format())
    if summary.stopped_by:  # the shell's convention for a process a signal stopped
        return 128 + signal.Signals[summary.stopped_by].value
    return 0


if __name__ == "__main__":
    sys.exit(main())
