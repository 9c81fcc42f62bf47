"""What the command lines share: a recipe file, `--set` overrides, the weights to
load, one-line errors."""

from __future__ import annotations

import argparse
import sys

from tfdeeplab.config.loader import RecipeError, load_recipe
from tfdeeplab.config.schema import Recipe


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`error: ...`, exit code 2).

    Example:
        >>> parser = OneLineArgumentParser(prog="python -m tfdeeplab.bench")
    """

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")


def add_override_argument(
    parser: argparse.ArgumentParser, example: str = "train.max_steps=100"
) -> None:
    """Add `--set KEY=VALUE ...` (stored as `args.overrides`) to `parser`.

    Args:
        parser: argparse.ArgumentParser. The command's parser.
        example: str. An override shown in the help text.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_override_argument(parser)
        >>> parser.parse_args(["--set", "train.max_steps=5"]).overrides
        ['train.max_steps=5']
    """
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help=f"override recipe keys, e.g. {example}",
    )


def add_weights_arguments(
    parser: argparse.ArgumentParser, *, required: bool = True
) -> None:
    """Add the choice `--checkpoint PATH` or `--weights FILE` to `parser`.

    Args:
        parser: argparse.ArgumentParser.
        required: bool. One of the two must be given. Defaults to True.

    Example:
        >>> add_weights_arguments(parser)  # then args.checkpoint, args.weights
    """
    weights = parser.add_mutually_exclusive_group(required=required)
    weights.add_argument(
        "--checkpoint", help="checkpoint prefix, or a run directory (its newest)"
    )
    weights.add_argument("--weights", help="a .weights.h5 or .keras file")


def load_recipe_or_report(path, overrides: list[str]) -> Recipe | None:
    """Load a recipe, or print its one-line error to stderr and return None.

    Args:
        path: str or Path. The recipe YAML file.
        overrides: list of "key=value" strings applied on top.

    Returns:
        The Recipe, or None after printing `error: <file>: <key>: <problem>`.

    Example:
        >>> recipe = load_recipe_or_report("recipes/demo.yaml", ["train.max_steps=5"])
        >>> recipe.train.max_steps if recipe else None
        5
    """
    try:
        return load_recipe(path, overrides)
    except RecipeError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
