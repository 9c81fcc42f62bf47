"""`python -m tfdeeplab.bench eval`: evaluation speed, and what is not the network.

Two protocols (SPEC §4) on synthetic images, each measured in one run:
- VOC: scales 0.9, 1.0, 1.1 of 500x375 images, 321x321 tiles (the recipe's model);
- Cityscapes: scale 1.0 of 1024x2048 images, 1024x1024 tiles (a reduced model by
  default: `--cityscapes-set` overrides it).
For each: seconds per image of the whole evaluation (`evaluate_split`: tiling,
forward, stitching, resizing, metrics, input; after the first image, which traces
the graph once for the whole split), the sum of its tiles' forward passes (the same
batches of `eval.tile_batch` tiles, timed alone), their ratio, and the share of wall
time outside the forward pass.
A third row runs the VOC protocol with the dense CRF in worker processes and reports
the CRF alone (one image, in line) and `crf_overlap`: the share of the CRF's time
hidden behind the network (1: all of it; 0: as slow as running it in line).
A fourth runs the VOC protocol keeping the report (`evaluate --report`): per-image
scores and the worst images, timed inside the pass (`report_s_per_image`), and the
report folder written at the end (`report_write_s`); `report_share` is what the
report adds to a VOC val evaluation (1449 images) at these rates (target: under 5%).
A fifth predicts one large photo (`--memory-size`, a phone's 3000x4000 by default)
by the VOC protocol in a fresh process, as `python -m tfdeeplab.predict` does, and
reports its peak resident memory, the bytes per pixel it grew by, and what a 12 MP
photo takes at that rate (target: under 4 GB).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

from tfdeeplab.bench.arguments import positive_int
from tfdeeplab.bench.export import image_size
from tfdeeplab.bench.fresh_process import call_in_fresh_process
from tfdeeplab.bench.table import emit
from tfdeeplab.bench.timing import median_seconds
from tfdeeplab.cli import add_override_argument
from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES

RECIPES = SHIPPED_RECIPES
# A ResNet-50-style net with one unit per stage: Cityscapes-sized tiles on a CPU.
REDUCED = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.fc6_channels=256",
]


def at_least_two(text: str) -> int:
    """An image count for argparse: the first image is not timed."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2, got {value}")
    return value


def _tiles_per_image(size, settings) -> int:
    from tfdeeplab.evaluation.inference import window_stride

    count = 0
    for scale in settings.scales:
        scaled = [max(1, round(side * scale)) for side in size]
        per_axis = [
            math.ceil(
                max(side - window, 0) / window_stride(window, settings.stride_fraction)
            )
            + 1
            for side, window in zip(scaled, settings.window, strict=True)
        ]
        count += per_axis[0] * per_axis[1] * (2 if settings.flip else 1)
    return count


VOC_VAL_IMAGES = 1449


class _TimedScores:
    """`on_scored` keeping an ImageScores, and the time spent in it."""

    def __init__(self, classes: int):
        from tfdeeplab.evaluation.per_image import ImageScores

        self.scores = ImageScores(classes)
        self.seconds = 0.0

    def __call__(self, example, labels, matrix):
        start = time.perf_counter()
        self.scores.add(
            example["id"].decode(), matrix, example["rgb"], example["label"], labels
        )
        self.seconds += time.perf_counter() - start


def _report_write_seconds(timed: _TimedScores, result, classes: int) -> float:
    """Seconds to write the report folder of a measured evaluation."""
    import tempfile

    from tfdeeplab.catalog.datasets import dataset_descriptor
    from tfdeeplab.evaluation.report import write_report

    voc = dataset_descriptor("voc")
    names = [voc.class_name(i) for i in range(classes)]
    facts = {
        "recipe": "bench",
        "split": "val",
        "checkpoint": "random weights",
        "step": None,
        "images": result.images,
        "seconds": result.seconds,
        "settings": {"scales": [0.9, 1.0, 1.1], "window": [321, 321]},
    }
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        write_report(
            Path(directory) / "report",
            metrics=result.metrics,
            matrix=result.matrix,
            class_names=names,
            scores=timed.scores,
            palette=voc.palette(),
            ignore_label=voc.ignore_label,
            facts=facts,
        )
        return time.perf_counter() - start


def _measure(
    name,
    recipe_path,
    overrides,
    size,
    images,
    repeats,
    crf=None,
    crf_workers=0,
    report=False,
):
    import tensorflow as tf

    from tfdeeplab.evaluation.evaluator import evaluate_split
    from tfdeeplab.experiment import Experiment

    experiment = Experiment.from_file(recipe_path, overrides)
    recipe, settings = experiment.recipe, experiment.settings
    model = experiment.build_model().model
    classes = recipe.model.num_classes
    rng = np.random.default_rng(0)
    examples = {
        "image": rng.normal(0, 50, (images, *size, 3)).astype(np.float32),
        "rgb": rng.integers(0, 256, (images, *size, 3)).astype(np.uint8),
        "label": rng.integers(0, classes, (images, *size)).astype(np.int32),
        "id": np.array([f"image{i}" for i in range(images)]),
    }
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    timed = _TimedScores(classes) if report else None
    result = evaluate_split(
        model,
        dataset,
        settings,
        classes,
        crf=crf,
        crf_workers=crf_workers,
        on_scored=timed,
        progress=False,
    )
    # The first image also traces the graph, a one-time cost a split amortises.
    per_image = result.seconds_after_first / (images - 1)

    tiles = _tiles_per_image(size, settings)
    batches = math.ceil(tiles / settings.tile_batch)
    batch = tf.constant(
        rng.normal(0, 50, (settings.tile_batch, *settings.window, 3)), tf.float32
    )
    forward = tf.function(lambda: tf.nn.softmax(model(batch, training=False)))
    forward_per_image = batches * median_seconds(lambda: forward().numpy(), repeats)
    row = {
        "protocol": name,
        "image": f"{size[1]}x{size[0]}",
        "tiles": tiles,
        "s_per_image": per_image,
        "forward_s_per_image": forward_per_image,
        "ratio": per_image / forward_per_image,
        "outside_forward": 1 - forward_per_image / per_image,  # < 0: noise
    }
    if crf is not None:
        from tfdeeplab.evaluation.crf import dense_crf

        probabilities = rng.dirichlet(np.ones(classes), size).astype(np.float32)
        row["crf_s_per_image"] = median_seconds(
            lambda: dense_crf(probabilities, examples["rgb"][0], **crf), repeats
        )
    if timed is not None:
        row["report_s_per_image"] = timed.seconds / images
        row["report_write_s"] = _report_write_seconds(timed, result, classes)
        evaluation = per_image * VOC_VAL_IMAGES
        report_seconds = row["report_s_per_image"] * VOC_VAL_IMAGES
        row["report_share"] = (report_seconds + row["report_write_s"]) / evaluation
    return row


def _crf_overlap(without: dict, with_crf: dict) -> float:
    """Share of the CRF's time hidden behind the network: 1 all, 0 none (in line)."""
    hidden = without["s_per_image"] + with_crf["crf_s_per_image"]
    hidden -= with_crf["s_per_image"]
    return hidden / min(without["s_per_image"], with_crf["crf_s_per_image"])


def _memory_child(recipe_path: str, overrides: list, height: int, width: int) -> dict:
    """In a fresh process: predict one random photo as `predict` does; its memory."""
    import tensorflow as tf

    from tfdeeplab.bench.timing import PeakSampler, rss_bytes
    from tfdeeplab.experiment import Experiment
    from tfdeeplab.export.builder import serving_server

    experiment = Experiment.from_file(recipe_path, overrides)
    model = experiment.build_model().model
    server = serving_server(experiment.recipe, model, portable=False)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def labels(rgb):
        return tf.argmax(server.probabilities(rgb), -1, output_type=tf.int32)

    labels(tf.zeros([64, 64, 3], tf.uint8)).numpy()  # trace and build first
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    before = rss_bytes()
    start = time.perf_counter()
    with PeakSampler() as sampler:
        labels(rgb).numpy()
    return {
        "before": before,
        "peak": sampler.peak,
        "seconds": time.perf_counter() - start,
    }


def _memory_row(recipe_path, overrides, size) -> dict:
    measured = call_in_fresh_process(
        "tfdeeplab.bench.evaluation",
        "_memory_child",
        str(recipe_path),
        list(overrides),
        size[0],
        size[1],
    )
    pixels = size[0] * size[1]
    per_pixel = (measured["peak"] - measured["before"]) / pixels
    return {
        "protocol": "VOC, one photo, as predict",
        "image": f"{size[1]}x{size[0]}",
        "s_per_image": measured["seconds"],
        "peak_gb": measured["peak"] / 1e9,
        "bytes_per_pixel": per_pixel,
        "gb_at_12mp": (measured["before"] + per_pixel * 12e6) / 1e9,
    }


def run(args: argparse.Namespace) -> None:
    import tensorflow as tf

    from tfdeeplab.config import load_recipe
    from tfdeeplab.evaluation.builder import crf_arguments

    voc = (
        "VOC (3 scales, 321 tiles)",
        args.recipe,
        args.overrides,
        (375, 500),
        args.images,
        args.repeats,
    )
    crf = crf_arguments(load_recipe(args.recipe, args.overrides))
    rows = [
        _measure(*voc),
        _measure(*voc, crf=crf, crf_workers=args.crf_workers),
        _measure(
            "Cityscapes (1 scale, 1024 tiles)",
            args.cityscapes_recipe,
            [*REDUCED, *args.cityscapes_set],
            (1024, 2048),
            args.cityscapes_images,
            args.repeats,
        ),
    ]
    rows[1]["protocol"] = "VOC + dense CRF in worker processes"
    rows[1]["crf_overlap"] = _crf_overlap(rows[0], rows[1])
    rows.insert(2, _measure(*voc, report=True))
    rows[2]["protocol"] = "VOC + report (evaluate --report)"
    if args.memory_size is not None:
        rows.append(_memory_row(args.recipe, args.overrides, args.memory_size))
    emit(
        "eval",
        rows,
        [
            "protocol",
            "image",
            "tiles",
            "s_per_image",
            "forward_s_per_image",
            "ratio",
            "outside_forward",
            "crf_s_per_image",
            "crf_overlap",
            "report_s_per_image",
            "report_write_s",
            "report_share",
            "peak_gb",
            "bytes_per_pixel",
            "gb_at_12mp",
        ],
        {
            "images": args.images,
            "cityscapes_images": args.cityscapes_images,
            "crf_workers": args.crf_workers or "one per core",
            "cores": os.cpu_count(),
            "tensorflow": tf.__version__,
        },
        args.json,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe", type=Path, default=RECIPES / "voc.yaml", help="VOC protocol recipe"
    )
    parser.add_argument(
        "--images",
        type=at_least_two,
        default=3,
        help="500x375 images, the first untimed (default 3)",
    )
    parser.add_argument(
        "--cityscapes-recipe",
        type=Path,
        default=RECIPES / "cityscapes_scale4_longer.yaml",
    )
    parser.add_argument("--cityscapes-images", type=at_least_two, default=3)
    add_override_argument(
        parser,
        f"model.depth=50 (after {' '.join(REDUCED)})",
        flag="--cityscapes-set",
        dest="cityscapes_set",
    )
    parser.add_argument(
        "--crf-workers",
        type=int,
        default=0,
        help="CRF processes for the VOC + CRF row (0: one per core)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=3,
        help="timed forward passes per batch (median)",
    )
    parser.add_argument(
        "--memory-size",
        type=image_size,
        default=(3000, 4000),
        metavar="WIDTHxHEIGHT",
        help="the photo of the memory row (default 4000x3000, 12 MP)",
    )
    parser.add_argument(
        "--no-memory",
        dest="memory_size",
        action="store_const",
        const=None,
        help="skip the memory row",
    )
    add_override_argument(parser, "model.depth=50")
