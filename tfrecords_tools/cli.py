"""Command-line options and reporting shared by the converters."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tfdeeplab.cli import path_argument, run_command
from tfdeeplab.shard_format import MANIFEST
from tfrecords_tools.conversion import (
    ConversionError,
    ConversionOptions,
    SplitReport,
    verify,
)


def _at_least_one(kind: type):
    """An argparse type: a number of `kind` that is positive (shard size, workers)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {text!r}"
            ) from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value

    return parse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--out, --workers, --shard-mb, --skip-bad, --verify, --force, --quiet."""
    # Before TensorFlow loads here or in the worker processes, which inherit it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser.add_argument(
        "--out", type=path_argument, required=True, help="output directory for shards"
    )
    parser.add_argument(
        "--workers",
        type=_at_least_one(int),
        default=os.cpu_count() or 1,
        help="worker processes (default: all cores)",
    )
    parser.add_argument(
        "--shard-mb",
        type=_at_least_one(float),
        default=150.0,
        help="target shard size in MB (default 150)",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="convert around bad files and record them in the manifest "
        "(default: refuse a split with any problem)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="only re-read every shard in --out and check it against manifest.json",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="convert into an --out holding TFRecord files its manifest.json does "
        "not record, replacing those named as a converted split's shards",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def engine_options(args: argparse.Namespace) -> ConversionOptions:
    """The conversion engine's options from `add_common_arguments`' flags, as the
    `convert_*` functions take them."""
    return ConversionOptions(
        workers=args.workers,
        shard_bytes=args.shard_mb * 1e6,
        skip_bad=args.skip_bad,
        progress=not args.quiet,
        force=args.force,
    )


def converter_main(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    convert_splits: Callable[[argparse.Namespace, ConversionOptions], list],
    check: Callable[[argparse.Namespace], str | None],
) -> int:
    """The `main` of every converter: its own flags (on `parser`) and the common
    ones, `--verify` or the conversion, its report; the exit status.

    Args:
        parser: the converter's parser, with its layout's flags.
        argv: the arguments, or None for `sys.argv`.
        convert_splits: (args, options) -> the SplitReports of the conversion.
        check: args -> a usage error (`--root is required`), or None.

    Example:
        >>> return converter_main(parser, argv, lambda args, options: convert_voc(
        ...     args.voc_root, args.out, options=options), _usage_error)
    """
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.verify:
        return run_verify(args.out, progress=not args.quiet)
    problem = check(args)
    if problem:
        parser.error(problem)
    return run_conversion(lambda: convert_splits(args, engine_options(args)), args.out)


def run_verify(out_dir: Path, progress: bool) -> int:
    """Verify `out_dir`; print the problems; exit status 0 (clean) or 1."""
    try:
        problems = verify(out_dir, progress=progress)
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{out_dir}: every shard matches manifest.json")
    return 1 if problems else 0


def report(reports: list[SplitReport], out_dir: Path) -> int:
    """Print one line per split and every problem; exit status 0 or 1."""
    status = 0
    for split in reports:
        if not split.written:
            status = 1
            print(
                f"error: {split.split}: {len(split.problems)} problem(s), "
                "nothing written for this split (fix them, or pass --skip-bad):",
                file=sys.stderr,
            )
            for problem in split.problems:
                print(f"  {problem}", file=sys.stderr)
            continue
        skipped = (
            f", {len(split.problems)} bad file(s) skipped" if split.problems else ""
        )
        print(
            f"{split.split}: {split.num_images} images, "
            f"{split.shards_written} shard(s) written, "
            f"{split.shards_reused} already complete{skipped}"
        )
        for problem in split.problems:
            print(f"  skipped: {problem}")
    print(f"manifest: {out_dir / MANIFEST}")
    return status


def run_conversion(convert_splits, out_dir: Path) -> int:
    """Run a converter (`convert_voc`, `convert_cityscapes`), report; exit status.

    Every failure the converter names is one line (`tfdeeplab.cli.run_command`);
    Ctrl-C ends the workers at once and says how to finish.
    """

    def body() -> int:
        return report(convert_splits(), out_dir)

    return run_command(
        body,
        interrupted="interrupted: every shard written so far is complete and "
        "recorded; run the same command to finish the conversion",
    )
