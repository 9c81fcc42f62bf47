"""`python -m tfdeeplab.bench export`: the SavedModel against the Keras model.

Exports the recipe's model (random weights) with its `eval` protocol, loads the
SavedModel back with `tf.saved_model.load`, and times milliseconds per image of its
`serving_default` signature against the live Keras model through the same
inference function (the unexported `SegmentationServer.serving_default`: the same
normalisation, scales, sliding window and flip), on the same uint8 images. The two
are timed alternately, image by image, so both see the same machine state; each
figure is the median over `--repeats` passes of every image, after one untimed
pass that traces. Target: the SavedModel at most 1.05x the Keras model.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tfdeeplab.bench.arguments import positive_int
from tfdeeplab.bench.table import emit
from tfdeeplab.cli import add_override_argument

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def image_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` (e.g. 500x375) as (height, width), for argparse's `type=`."""
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT such as 500x375, got {text!r}"
        ) from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"expected positive sides, got {text!r}")
    return height, width


def run(args: argparse.Namespace) -> None:
    import tensorflow as tf

    from tfdeeplab.config import load_recipe
    from tfdeeplab.export.builder import export_assets, serving_server
    from tfdeeplab.export.saved_model import export_saved_model
    from tfdeeplab.models import build_model

    recipe = load_recipe(args.recipe, args.overrides)
    model = build_model(recipe.model)
    server = serving_server(recipe, model)
    rng = np.random.default_rng(0)
    images = [
        tf.constant(rng.integers(0, 256, (1, *args.size, 3), dtype=np.uint8))
        for _ in range(args.images)
    ]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        out = export_saved_model(server, Path(folder) / "model", export_assets(recipe))
        export_seconds = time.perf_counter() - start
        serve = tf.saved_model.load(str(out)).signatures["serving_default"]
        paths = {
            "keras": lambda image: server.serving_default(image)["labels"].numpy(),
            "saved_model": lambda image: serve(images=image)["labels"].numpy(),
        }
        times = {name: [] for name in paths}
        for predict in paths.values():  # trace, untimed
            predict(images[0])
        for _ in range(args.repeats):
            for image in images:
                for name, predict in paths.items():
                    begin = time.perf_counter()
                    predict(image)
                    times[name].append(time.perf_counter() - begin)
    keras_ms, saved_ms = (1000 * float(np.median(times[name])) for name in paths)
    settings = server.settings
    rows = [
        {
            "model": f"{recipe.name}: {recipe.model.depth} layers",
            "image": f"{args.size[1]}x{args.size[0]}",
            "protocol": f"scales {list(settings.scales)}, window "
            f"{list(settings.window or [])}, flip {settings.flip}",
            "keras_ms": keras_ms,
            "saved_model_ms": saved_ms,
            "ratio": saved_ms / keras_ms,
            "export_s": export_seconds,
        }
    ]
    emit(
        "export",
        rows,
        [
            "model",
            "image",
            "protocol",
            "keras_ms",
            "saved_model_ms",
            "ratio",
            "export_s",
        ],
        {
            "images": args.images,
            "repeats": args.repeats,
            "cores": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        args.json,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe",
        type=Path,
        default=RECIPES / "voc.yaml",
        help="the model and eval protocol (default recipes/voc.yaml)",
    )
    parser.add_argument(
        "--size",
        type=image_size,
        default=(375, 500),
        help="WIDTHxHEIGHT of the images (default 500x375)",
    )
    parser.add_argument(
        "--images",
        type=positive_int,
        default=2,
        help="different images per pass (default 2)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        help="timed passes over the images (median)",
    )
    add_override_argument(parser, "model.depth=50")
