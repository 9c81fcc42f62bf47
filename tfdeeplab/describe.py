"""`python -m tfdeeplab.describe RECIPE.yaml [--set key=value ...]`

Loads a recipe, builds its model and runs one forward pass at the recipe's crop size,
then prints what was built: parameters (trainable and frozen), the logits' feature-map
and output sizes, build and forward times. The quickest end-to-end check of a recipe.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from tfdeeplab.config.cli import add_override_argument, load_recipe_or_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfdeeplab.describe", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    add_override_argument(parser, "model.output_stride=8")
    args = parser.parse_args(argv)

    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tfdeeplab.models import build_model, weight_multipliers

    model_config = recipe.model
    start = time.perf_counter()
    model = build_model(model_config)
    build_seconds = time.perf_counter() - start
    height, width = recipe.data.crop_size
    images = np.zeros([1, height, width, 3], np.float32)
    start = time.perf_counter()
    logits = model(images, training=False)
    forward_seconds = time.perf_counter() - start

    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    total = model.count_params()
    boosted = sorted(
        {
            f"x{m.learning_rate:g}"
            for m in weight_multipliers(model).values()
            if m.learning_rate != 1
        }
    )
    rows = [
        ("recipe", f"{recipe.name}: {recipe.description}"),
        (
            "backbone",
            f"ResNet-v1-{model_config.depth}, "
            f"output stride {model_config.output_stride}, "
            f"stem pool pad {model_config.stem_pool_padding}, "
            f"BN {model_config.batch_norm}",
        ),
        (
            "head",
            f"{model_config.head}, upsampling {model_config.upsampling}"
            + (
                f", MSC {list(model_config.msc_scales)}"
                if model_config.msc_scales
                else ""
            ),
        ),
        ("deformable units", ", ".join(model_config.deformable_units) or "none"),
        (
            "parameters",
            f"{total:,} ({trainable:,} trainable, {total - trainable:,} frozen)",
        ),
        ("lr multipliers", ", ".join(boosted) or "none"),
        (
            "input -> logits",
            f"{height}x{width}x3 -> {'x'.join(str(d) for d in logits.shape[1:])}",
        ),
        (
            "build / forward",
            f"{build_seconds:.1f} s / {forward_seconds:.1f} s (first call)",
        ),
    ]
    width_col = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width_col}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
