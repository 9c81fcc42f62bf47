"""`python -m tfdeeplab.predict --recipe RECIPE --checkpoint PATH IMAGES... --out DIR`

Label maps for image files (JPEG, PNG; folders are searched one level) by the recipe's
evaluation settings: for each, a palette PNG in the dataset's colours and an overlay
JPEG. Files that cannot be read are listed and skipped (exit code 1 then); existing
outputs are kept unless `--force`.
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
        prog="python -m tfdeeplab.predict", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--recipe", required=True, help="the model's recipe")
    add_weights_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")
    add_override_argument(parser, "eval.scales=[1.0]")
    args = parser.parse_args(argv)

    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2
    from tfdeeplab.evaluation.prediction import image_files, output_paths

    images = image_files(args.images)
    existing = [p for image in images for p in output_paths(image, args.out)
                if p.exists()]  # fmt: skip
    if existing and not args.force:
        print(f"error: {existing[0]} exists ({len(existing)} output(s) would be "
              "overwritten); pass --force or choose another --out",
              file=sys.stderr)  # fmt: skip
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tfdeeplab.evaluation.crf import CrfUnavailableError
    from tfdeeplab.evaluation.weights import WeightsError

    try:
        return _predict(recipe, images, args)
    except (WeightsError, CrfUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _predict(recipe, images: list[Path], args) -> int:
    import tensorflow as tf

    from tfdeeplab.data.augment import normalize
    from tfdeeplab.data.datasets import dataset_descriptor
    from tfdeeplab.evaluation.builder import crf_arguments, inference_settings
    from tfdeeplab.evaluation.crf import dense_crf, require_crf
    from tfdeeplab.evaluation.inference import predict_probabilities
    from tfdeeplab.evaluation.prediction import (
        output_paths,
        read_rgb,
        write_prediction,
    )
    from tfdeeplab.evaluation.weights import load_weights
    from tfdeeplab.models import build_model

    crf = None
    if args.crf:
        require_crf()  # before any work
        crf = crf_arguments(recipe)
    model = build_model(recipe.model)
    loaded = load_weights(model, checkpoint=args.checkpoint, weights=args.weights)
    settings = inference_settings(recipe)
    data = recipe.data
    palette = dataset_descriptor(data.dataset).palette()

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def probabilities_of(rgb):
        image = normalize(rgb, data.channel_order, data.mean)
        return predict_probabilities(model, image, settings)

    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    print(f"predicting {len(images)} image(s) with {loaded}")
    for path in images:
        try:
            rgb = read_rgb(path)
        except ValueError as error:
            failed.append(str(error))
            continue
        probabilities = probabilities_of(rgb).numpy()
        if crf is not None:
            probabilities = dense_crf(probabilities, rgb, **crf)
        write_prediction(probabilities.argmax(-1), rgb, palette,
                         output_paths(path, args.out))  # fmt: skip
    for problem in failed:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"{len(images) - len(failed)} written to {args.out}"
          + (f", {len(failed)} skipped" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
