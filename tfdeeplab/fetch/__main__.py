"""`python -m tfdeeplab.fetch NAME [NAME ...] [--dir DATA] [--from DIR] [--mirror URL]`

Downloads the datasets and weight files the recipes need, checks every byte against
the registry's sizes and hashes (or pins the sha256 of weight files that have none),
resumes where a download stopped, and unpacks each into the layout its converter or
the weight importer takes, then prints where it is and the command that takes it.
--list prints the registry with what is already here; --dry-run prints the plan.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tfdeeplab.cli import OneLineArgumentParser, path_argument, run_command

DEFAULT_DIR = Path("data")


def _sha256(text: str) -> str:
    import argparse

    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise argparse.ArgumentTypeError(f"expected 64 hex digits, got {text!r}")
    return text.lower()


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.fetch", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="artifacts (--list)")
    parser.add_argument(
        "--dir",
        type=path_argument,
        default=DEFAULT_DIR,
        metavar="DATA",
        help="where artifacts go (default: data)",
    )
    parser.add_argument(
        "--from",
        dest="from_dir",
        type=path_argument,
        metavar="DIR",
        help="take the files from this folder (offline, or downloaded in a browser)",
    )
    parser.add_argument("--mirror", metavar="URL", help="try URL/<file name> first")
    parser.add_argument(
        "--registry",
        type=path_argument,
        metavar="FILE",
        help="a registry of the same format instead of the shipped one",
    )
    parser.add_argument(
        "--expect-sha256",
        type=_sha256,
        metavar="HEX",
        help="the sha256 you trust, for an artifact of one file",
    )
    parser.add_argument("--list", action="store_true", help="print the registry")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be fetched"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def _run(args) -> int:
    from tfdeeplab.fetch.plan import fetch_all, plan_lines, registry_table
    from tfdeeplab.fetch.registry import load_registry

    registry = load_registry(args.registry)
    if args.list:
        print(registry_table(registry, args.dir))
        return 0
    if args.dry_run:
        print("\n".join(plan_lines(registry, args.names, args.dir)))
        return 0
    fetch_all(
        registry,
        args.names,
        args.dir,
        mirror=args.mirror,
        from_dir=args.from_dir,
        expect_sha256=args.expect_sha256,
        progress=not args.quiet,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.list and not args.names:
        parser.error("name artifacts to fetch, or --list")
    if args.list and args.names:
        parser.error("--list takes no names")
    if args.expect_sha256 and len(args.names) != 1:
        parser.error("--expect-sha256 goes with one NAME")
    return run_command(
        lambda: _run(args),
        interrupted="interrupted; what was downloaded is kept: run the same command "
        "to continue",
        flags={"from_dir": "--from", "mirror": "--mirror", "data_dir": "--dir"},
    )


if __name__ == "__main__":
    sys.exit(main())
