"""`python -m tfdeeplab.describe RECIPE.yaml [--set key=value ...]`

Loads a recipe, builds its model and runs one forward pass at the recipe's crop size,
then prints what was built: parameters (trainable and frozen), the logits' feature-map
and output sizes, build and forward times. The quickest end-to-end check of a recipe.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe


def _describe(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import describe

    print(describe(recipe).format())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.describe", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    add_override_argument(parser, "model.output_stride=8")
    args = parser.parse_args(argv)
    return run_command(lambda: _describe(args))


if __name__ == "__main__":
    sys.exit(main())
