"""`python -m tfdeeplab.export RECIPE --checkpoint PATH --out DIR [--set k=v ...]`

Writes a SavedModel that TensorFlow Serving, `saved_model_cli` and plain
`tf.saved_model.load` use without tfdeeplab: the recipe's normalisation and `eval`
protocol (scales, sliding window, flip; no CRF) are in the graph. Signatures
`serving_default` (uint8 images [N, H, W, 3]) and `serving_bytes` (encoded JPEG/PNG
strings [N]) both return `labels` [N, H, W] and `probabilities` [N, H, W, C]; the
assets hold the resolved recipe and `labels.json` (class names, palette).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tfdeeplab.config.cli import (
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    load_recipe_or_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.export", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    add_weights_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="SavedModel folder")
    parser.add_argument("--force", action="store_true", help="replace --out")
    add_override_argument(parser, "eval.scales=[1.0]")
    args = parser.parse_args(argv)

    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tfdeeplab.evaluation.weights import WeightsError
    from tfdeeplab.export.saved_model import ExportExistsError

    try:
        return _export(recipe, args)
    except (WeightsError, ExportExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _export(recipe, args) -> int:
    from tfdeeplab.evaluation.weights import load_weights
    from tfdeeplab.export.builder import export_assets, serving_server
    from tfdeeplab.export.saved_model import export_saved_model
    from tfdeeplab.models import build_model

    model = build_model(recipe.model)
    loaded = load_weights(model, checkpoint=args.checkpoint, weights=args.weights)
    server = serving_server(recipe, model)
    settings = server.settings
    print(f"exporting {loaded}: scales {list(settings.scales)}, window "
          f"{list(settings.window or [])}, flip {settings.flip}")  # fmt: skip
    out = export_saved_model(server, args.out, export_assets(recipe),
                             force=args.force)  # fmt: skip
    print(f"wrote {out}\n"
          "  serving_default: images uint8 [N, H, W, 3] -> labels int32 [N, H, W], "
          f"probabilities float32 [N, H, W, {recipe.model.num_classes}]\n"
          "  serving_bytes: image_bytes string [N] (JPEG/PNG) -> the same\n"
          f"  assets: recipe.yaml, labels.json\n"
          f"inspect it with: saved_model_cli show --dir {out} --all")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
