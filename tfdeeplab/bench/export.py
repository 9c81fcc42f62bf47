"""`python -m tfdeeplab.bench export`: the SavedModel against the Keras model.

Exports the recipe's model (random weights) with its `eval` protocol, loads the
SavedModel back with `tf.saved_model.load`, and times milliseconds per image of its
`serving_default` signature against the live Keras model through the same
inference function (the unexported `SegmentationServer.serving_default`: the same
normalisation, scales, sliding window and flip), on the same uint8 images. The two
are timed alternately, image by image, so both see the same machine state; each
figure is the median over `--repeats` passes of every image, after one untimed
pass that traces. Target: the SavedModel at most 1.05x the Keras model.

Then one row per single-file format (`--file-formats`, default tflite,
tflite-float16, tflite-int8, onnx): the network at one fixed input size
(`--file-size`, default the recipe's crop) exported as that file and timed in its own
runtime in a fresh process (LiteRT, ONNX Runtime: `export.model_file.run_in_runtime`,
median of `--repeats` runs after one), against a SavedModel of the same fixed-size
network timed here by TensorFlow (`saved_model_ms`, the same input). Each file is
converted in a fresh process, whose peak memory is `export_peak_gb`; int8
calibrates on random images here: its speed, not its accuracy, is measured.
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
from tfdeeplab.bench.timing import median_seconds
from tfdeeplab.cli import add_override_argument
from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES

RECIPES = SHIPPED_RECIPES


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

    from tfdeeplab.experiment import Experiment
    from tfdeeplab.export.builder import export_assets, serving_server
    from tfdeeplab.export.saved_model import export_saved_model

    experiment = Experiment.from_file(args.recipe, args.overrides)
    recipe = experiment.recipe
    model = experiment.build_model().model
    server = serving_server(recipe, model)
    rng = np.random.default_rng(0)
    images = [
        tf.constant(rng.integers(0, 256, (1, *args.size, 3), dtype=np.uint8))
        for _ in range(args.images)
    ]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        out = export_saved_model(
            server, Path(folder) / "model", export_assets(recipe, experiment.dataset)
        )
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
            "format": "saved_model vs keras",
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
    rows += _file_rows(recipe, model, args)
    emit(
        "export",
        rows,
        [
            "format",
            "model",
            "image",
            "protocol",
            "keras_ms",
            "saved_model_ms",
            "file_ms",
            "ratio",
            "size_mb",
            "export_s",
            "export_peak_gb",
        ],
        {
            "images": args.images,
            "repeats": args.repeats,
            "cores": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        args.json,
    )


FILE_FORMATS = ("tflite", "tflite-float16", "tflite-int8", "onnx")


def _file_rows(recipe, model, args) -> list[dict]:
    """One row per single-file format against the same network's SavedModel."""
    import tensorflow as tf

    from tfdeeplab.bench.fresh_process import call_in_fresh_process
    from tfdeeplab.export.builder import fixed_size_network
    from tfdeeplab.export.model_file import run_in_runtime

    if not args.file_formats:
        return []
    size = tuple(args.file_size or recipe.data.crop_size)
    network = fixed_size_network(recipe, model, size)
    image = np.random.default_rng(1).integers(0, 256, (1, *size, 3), dtype=np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tf.saved_model.save(network, str(folder / "fixed"), signatures=network.segment)
        serve = tf.saved_model.load(str(folder / "fixed")).signatures["serving_default"]
        saved_ms = 1000 * median_seconds(  # the first call traces, untimed
            lambda: serve(image=tf.constant(image)), args.repeats
        )
        np.save(folder / "image.npy", image)
        for name in args.file_formats:
            # Each conversion in a fresh process: its peak memory is its own.
            made = call_in_fresh_process(
                "tfdeeplab.bench.export",
                "_convert_child",
                str(args.recipe),
                list(args.overrides),
                name,
                list(size),
                str(folder),
            )
            record = run_in_runtime(
                Path(made["path"]),
                "--image",
                str(folder / "image.npy"),
                "--repeats",
                str(args.repeats),
            )
            rows.append(
                {
                    "format": f"{name} in {record['runtime']}",
                    "model": f"{recipe.name}: {recipe.model.depth} layers",
                    "image": f"{size[1]}x{size[0]}",
                    "protocol": "one tile",
                    "saved_model_ms": saved_ms,
                    "file_ms": record["median_ms"],
                    "ratio": record["median_ms"] / saved_ms,
                    "size_mb": made["size_mb"],
                    "export_s": made["seconds"],
                    "export_peak_gb": made["peak_gb"],
                }
            )
    return rows


def _convert_child(recipe_path: str, overrides: list, name: str, size, folder):
    """In a fresh process: the recipe's network (random weights) as one file."""
    import resource

    from tfdeeplab.experiment import Experiment
    from tfdeeplab.export.builder import fixed_size_network
    from tfdeeplab.export.onnx_file import onnx_bytes
    from tfdeeplab.export.tflite_file import tflite_bytes

    experiment = Experiment.from_file(recipe_path, overrides)
    recipe = experiment.recipe
    network = fixed_size_network(recipe, experiment.build_model().model, size)
    file_format, _, quantize = name.partition("-")
    rng = np.random.default_rng(2)
    start = time.perf_counter()
    if file_format == "onnx":
        data = onnx_bytes(network)
    else:  # int8 calibrates on random images: its speed is measured, not accuracy
        images = [rng.integers(0, 256, (1, *size, 3), np.uint8) for _ in range(8)]
        data = tflite_bytes(network, quantize or "none", lambda: images)
    seconds = time.perf_counter() - start
    path = Path(folder) / f"{name}.{file_format}"
    path.write_bytes(data)
    return {
        "path": str(path),
        "seconds": seconds,
        "size_mb": len(data) / 1e6,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def file_formats(text: str) -> tuple[str, ...]:
    """A comma-separated list of FILE_FORMATS (or `none`), for argparse."""
    if text == "none":
        return ()
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in FILE_FORMATS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"expected some of {', '.join(FILE_FORMATS)} or none, got {unknown[0]!r}"
        )
    return names


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
    parser.add_argument(
        "--file-formats",
        type=file_formats,
        default=FILE_FORMATS,
        metavar="LIST",
        help=f"single-file formats to time (default {','.join(FILE_FORMATS)}; none)",
    )
    parser.add_argument(
        "--file-size",
        type=image_size,
        metavar="WIDTHxHEIGHT",
        help="their fixed input size (default: the recipe's crop)",
    )
    add_override_argument(parser, "model.depth=50")
