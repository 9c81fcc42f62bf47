"""`python -m tfdeeplab.bench NAME [options] [--json FILE]`."""

from __future__ import annotations

import os
import sys

from tfdeeplab.bench import convert, data, deform, evaluation, export, step
from tfdeeplab.cli import OneLineArgumentParser, path_argument, run_command

BENCHMARKS = {
    "convert": convert,
    "data": data,
    "deform": deform,
    "eval": evaluation,
    "export": export,
    "step": step,
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    parser = OneLineArgumentParser(prog="python -m tfdeeplab.bench")
    commands = parser.add_subparsers(
        dest="benchmark", required=True, parser_class=OneLineArgumentParser
    )
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.add_argument(
            "--json",
            type=path_argument,
            help="also write the figures to this JSON file",
        )
    args = parser.parse_args(argv)
    return run_command(lambda: BENCHMARKS[args.benchmark].run(args))


if __name__ == "__main__":
    sys.exit(main())
