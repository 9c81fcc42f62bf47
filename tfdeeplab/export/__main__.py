"""`python -m tfdeeplab.export RECIPE --checkpoint PATH --out DIR [--set k=v ...]`

Writes a SavedModel that TensorFlow Serving, `saved_model_cli` and plain
`tf.saved_model.load` use without tfdeeplab: the recipe's normalisation and `eval`
protocol (scales, sliding window, flip; no CRF) are in the graph. Signatures
`serving_default` (uint8 images [N, H, W, 3]) and `serving_bytes` (encoded JPEG/PNG
strings [N]) both return `labels` [N, H, W] and `probabilities` [N, H, W, C]; the
assets hold the resolved recipe and `labels.json` (class names, palette).
"""

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
from tfdeeplab.config import load_recipe


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.export", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    add_weights_arguments(parser)
    parser.add_argument(
        "--out", type=path_argument, required=True, help="SavedModel folder"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace a SavedModel at --out"
    )
    add_override_argument(parser, "eval.scales=[1.0]")
    return parser


def _export(args) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import export

    result = export(
        recipe,
        args.out,
        checkpoint=args.checkpoint,
        weights=args.weights,
        force=args.force,
    )
    print(result.format())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _export(args))


if __name__ == "__main__":
    sys.exit(main())
