"""The command-line helpers, by their earlier name: they live in `tfdeeplab.cli`."""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    path_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config.loader import RecipeError, load_recipe
from tfdeeplab.config.schema import Recipe


def load_recipe_or_report(path, overrides: list[str]) -> Recipe | None:
    """Load a recipe, or print its one-line error to stderr and return None.

    Kept for scripts written against the earlier commands; they now call
    `load_recipe` inside `tfdeeplab.cli.run_command`, which reports every
    `TfdeeplabError` the same way.

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


__all__ = [
    "OneLineArgumentParser",
    "add_override_argument",
    "add_weights_arguments",
    "load_recipe_or_report",
    "path_argument",
    "run_command",
    "start_tensorflow",
]
