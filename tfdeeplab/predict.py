"""`python -m tfdeeplab.predict --recipe RECIPE --checkpoint PATH IMAGES... --out DIR`
or `python -m tfdeeplab.predict --saved-model DIR IMAGES... --out DIR`

Label maps for image files (JPEG, PNG; folders are searched one level) by the recipe's
evaluation settings, or by an exported SavedModel (its own settings; class colours
from its `labels.json`): for each, a palette PNG in the dataset's colours and an
overlay JPEG. Files that cannot be read are listed and skipped (exit code 1 then);
existing outputs are kept unless `--force`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tfdeeplab.config.cli import (
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    load_recipe_or_report,
)
from tfdeeplab.errors import TfdeeplabError


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.predict", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.add_argument("--recipe", help="the model's recipe (not with --saved-model)")
    add_weights_arguments(parser, required=False)
    parser.add_argument(
        "--saved-model",
        type=Path,
        metavar="DIR",
        help="an exported SavedModel instead of recipe and weights",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")
    add_override_argument(parser, "eval.scales=[1.0]")
    args = parser.parse_args(argv)
    if args.saved_model is not None:
        given = [flag for flag, value in (("--recipe", args.recipe),
                 ("--checkpoint", args.checkpoint), ("--weights", args.weights),
                 ("--set", args.overrides)) if value]  # fmt: skip
        if given:
            parser.error(f"--saved-model takes no {given[0]}: the settings are in the "
                         "exported model")  # fmt: skip
        recipe = None
    else:
        if not args.recipe or not (args.checkpoint or args.weights):
            parser.error("expected --recipe with --checkpoint or --weights, or "
                         "--saved-model DIR")  # fmt: skip
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
    from tfdeeplab.config import RecipeError
    from tfdeeplab.evaluation.crf import CrfUnavailableError
    from tfdeeplab.evaluation.weights import WeightsError

    try:
        if recipe is None:
            predictor = _saved_model_predictor(args.saved_model, args.crf)
        else:
            predictor = _recipe_predictor(recipe, args)
        return _predict(predictor, images, args.out)
    except (WeightsError, CrfUnavailableError, RecipeError, SavedModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


class SavedModelError(TfdeeplabError, ValueError):
    """A --saved-model folder that is not an exported tfdeeplab model."""


def _recipe_predictor(recipe, args) -> tuple:
    """(probabilities of uint8 RGB, palette, CRF arguments or None, description)."""
    import tensorflow as tf

    from tfdeeplab.catalog.datasets import dataset_descriptor
    from tfdeeplab.data.augment import normalize
    from tfdeeplab.evaluation.builder import crf_arguments, inference_settings
    from tfdeeplab.evaluation.crf import require_crf
    from tfdeeplab.evaluation.inference import predict_probabilities
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

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def probabilities_of(rgb):
        image = normalize(rgb, data.channel_order, data.mean)
        return predict_probabilities(model, image, settings)

    palette = dataset_descriptor(data.dataset).palette()
    return (lambda rgb: probabilities_of(rgb).numpy()), palette, crf, str(loaded)


def _saved_model_predictor(model_dir: Path, use_crf: bool) -> tuple:
    """As `_recipe_predictor`, from an exported model and its assets."""
    import numpy as np

    from tfdeeplab.config import load_recipe
    from tfdeeplab.evaluation.builder import crf_arguments
    from tfdeeplab.evaluation.crf import require_crf

    labels_file = model_dir / "assets" / "labels.json"
    if not (model_dir / "saved_model.pb").is_file() or not labels_file.is_file():
        raise SavedModelError(
            f"{model_dir}: not a SavedModel from python -m tfdeeplab.export "
            "(expected saved_model.pb and assets/labels.json)"
        )
    crf = None
    if use_crf:
        require_crf()  # before any work
        crf = crf_arguments(load_recipe(model_dir / "assets" / "recipe.yaml"))
    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    palette = np.zeros([256, 3], np.uint8)
    palette[: labels["num_classes"]] = labels["palette"]
    palette[labels["ignore_label"]] = labels["ignore_colour"]

    import tensorflow as tf

    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]

    def probabilities_of(rgb):
        outputs = serve(images=tf.constant(rgb[None]))
        return outputs["probabilities"][0].numpy()

    return probabilities_of, palette, crf, str(model_dir)


def _predict(predictor: tuple, images: list[Path], out: Path) -> int:
    from tfdeeplab.evaluation.crf import dense_crf
    from tfdeeplab.evaluation.prediction import output_paths, read_rgb, write_prediction

    probabilities_of, palette, crf, description = predictor
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    print(f"predicting {len(images)} image(s) with {description}")
    for path in images:
        try:
            rgb = read_rgb(path)
        except ValueError as error:
            failed.append(str(error))
            continue
        probabilities = probabilities_of(rgb)
        if crf is not None:
            probabilities = dense_crf(probabilities, rgb, **crf)
        write_prediction(probabilities.argmax(-1), rgb, palette,
                         output_paths(path, out))  # fmt: skip
    for problem in failed:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"{len(images) - len(failed)} written to {out}"
          + (f", {len(failed)} skipped" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
