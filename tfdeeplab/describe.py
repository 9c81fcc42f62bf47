"""`python -m tfdeeplab.describe RECIPE [--set key=value ...]` or `... --list`

Loads a recipe, builds its model and runs one forward pass at the recipe's crop size,
then prints what was built: parameters (trainable and frozen), the logits' feature-map
and output sizes, build and forward times. The quickest end-to-end check of a recipe.
With --list, prints the shipped recipes and what each reproduces (the first paragraph
of its header comment); --markdown prints them as the README's table.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe
from tfdeeplab.config.shipped_recipes import recipe_list, recipe_table, shipped_recipes


def _describe(args) -> int:
    if args.list:
        recipes = shipped_recipes()
        print(recipe_table(recipes) if args.markdown else recipe_list(recipes))
        return 0
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import describe

    print(describe(recipe).format())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.describe", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", nargs="?", help=RECIPE_HELP)
    add_override_argument(parser, "model.output_stride=8")
    parser.add_argument(
        "--list", action="store_true", help="list the shipped recipes instead"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --list: as a markdown table"
    )
    args = parser.parse_args(argv)
    if args.list and (args.recipe or args.overrides):
        parser.error("--list takes no recipe and no --set")
    if not args.list and args.recipe is None:
        parser.error("give a recipe, or --list")
    if args.markdown and not args.list:
        parser.error("--markdown goes with --list")
    return run_command(lambda: _describe(args))


if __name__ == "__main__":
    sys.exit(main())
