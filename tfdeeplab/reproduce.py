"""`python -m tfdeeplab.reproduce RECIPE [--data DATA] [--runs DIR] [--dry-run] ...`

Reproduces a row of the seed's table (SPEC §1) from nothing: fetches the datasets
and initial weights, converts, imports, trains under the recipe's strategy on every
visible GPU, evaluates by the recipe's protocol, and writes reproduction.md and
reproduction.json in the run beside the paper's and the seed's mIoU. Each finished
step is reused; Ctrl-C, then the same command, continues. --dry-run prints the plan.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    path_argument,
    run_command,
    start_tensorflow,
)


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.reproduce", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help=f"a seed recipe: {RECIPE_HELP}")
    parser.add_argument(
        "--data", type=path_argument, default=Path("data"), metavar="DATA",
        help="artifacts, shards and imported weights (default: data)",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=path_argument, default=Path("runs"), metavar="DIR",
        help="where the run directory goes (default: runs)",
    )  # fmt: skip
    add_override_argument(parser)
    parser.add_argument(
        "--steps",
        default="fetch,convert,import,train,evaluate",
        help="the steps to run, comma-separated (default: all)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan")
    parser.add_argument("--registry", type=path_argument, metavar="FILE")
    parser.add_argument("--mirror", metavar="URL", help="fetch's --mirror")
    parser.add_argument(
        "--from", dest="from_dir", type=path_argument, metavar="DIR",
        help="fetch's --from: the artifacts' files, offline",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def _run(args) -> int:
    start_tensorflow()
    from tfdeeplab.experiment.reproduce_job import (
        dry_run_lines,
        plan_reproduction,
        reproduce,
    )
    from tfdeeplab.fetch.registry import load_registry

    steps = [step.strip() for step in args.steps.split(",") if step.strip()]
    plan = plan_reproduction(args.recipe, args.data, args.runs, args.overrides, steps)
    registry = load_registry(args.registry)
    if args.dry_run:
        print("\n".join(dry_run_lines(plan, args.data, registry)))
        return 0
    options = {"registry": registry, "mirror": args.mirror}
    options["from_dir"] = args.from_dir
    record = reproduce(plan, args.data, fetch_options=options, progress=not args.quiet)
    print(
        f"{record['recipe']}: mIoU {record['miou']} (paper {record['paper_miou']}, "
        f"seed {record['seed_miou']})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: _run(args), flags={"from_dir": "--from", "data": "--data"}
    )


if __name__ == "__main__":
    sys.exit(main())
