"""`python -m tfdeeplab.bench convert`: VOC conversion throughput, images/s.

Generates a VOC-layout tree of VOC-sized photos (375x500 JPEG, palette PNG labels), or
takes `--voc-root`, and converts its `train` split three ways in one run:

- `tfrecords_tools.voc`: ours (checks every file, parallel workers, manifest, sha256);
- `single-process baseline`: what research/deeplab's build_voc2012_data.py does, re-
  implemented: one process reads each image's bytes, decodes the image for its size,
  decodes and re-encodes the label, writes the record; no other checks;
- `copy ceiling`: one process copies image and label bytes into records, decoding
  nothing: the I/O floor no converter can beat per process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.bench.arguments import positive_int
from tfdeeplab.bench.table import emit


def _baseline(voc_root: Path, ids: list[str], out: Path, decode: bool) -> None:
    import tensorflow as tf

    from tfdeeplab.shard_format import serialize_example
    from tfrecords_tools.labels import encode_label_png

    with tf.io.TFRecordWriter(str(out)) as writer:
        for image_id in ids:
            image = (voc_root / "JPEGImages" / f"{image_id}.jpg").read_bytes()
            label_path = voc_root / "SegmentationClass" / f"{image_id}.png"
            if decode:
                label = encode_label_png(np.array(Image.open(label_path)))
                with Image.open(voc_root / "JPEGImages" / f"{image_id}.jpg") as decoded:
                    decoded.load()
                    height, width = decoded.height, decoded.width
            else:
                label, height, width = label_path.read_bytes(), 0, 0
            writer.write(
                serialize_example(
                    image=image,
                    image_format="jpeg",
                    height=height,
                    width=width,
                    filename=image_id,
                    label_png=label,
                )
            )


def run(args: argparse.Namespace) -> None:
    from tfdeeplab.catalog.datasets import DATASETS
    from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree
    from tfrecords_tools.conversion import ConversionOptions, convert
    from tfrecords_tools.inputs import read_list
    from tfrecords_tools.voc import voc_splits

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        voc_root = args.voc_root
        if voc_root is None:
            start = time.perf_counter()
            ids = [voc_id(i) for i in range(args.images)]
            voc_root = write_voc_tree(scratch / "tree", ids, [], size=(375, 500))
            print(
                f"generated {args.images} VOC-sized images "
                f"in {time.perf_counter() - start:.1f} s"
            )
        ids = read_list(voc_root / "ImageSets" / "Segmentation" / "train.txt")
        splits, _ = voc_splits(voc_root, None)
        rows = []

        def measure(name, function):
            start = time.perf_counter()
            function()
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "converter": name,
                    "images": len(ids),
                    "seconds": seconds,
                    "images_per_s": len(ids) / seconds,
                }
            )

        # TensorFlow loads once before any timing.
        import tensorflow  # noqa: F401

        measure(
            f"tfrecords_tools.voc ({args.workers} workers)",
            lambda: convert(
                {"train": splits["train"]},
                DATASETS["voc"],
                scratch / "ours",
                options=ConversionOptions(workers=args.workers, progress=False),
            ),
        )
        measure(
            "single-process baseline",
            lambda: _baseline(voc_root, ids, scratch / "baseline.tfrecord", True),
        )
        measure(
            "copy ceiling (1 process)",
            lambda: _baseline(voc_root, ids, scratch / "copy.tfrecord", False),
        )
        ours = rows[0]["images_per_s"]
        for row in rows:
            row["ours_over_this"] = ours / row["images_per_s"]
        emit(
            "convert",
            rows,
            ["converter", "images", "seconds", "images_per_s", "ours_over_this"],
            {"images": len(ids), "workers": args.workers, "cores": os.cpu_count()},
            args.json,
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        type=positive_int,
        default=1000,
        help="images to generate (default 1000)",
    )
    parser.add_argument(
        "--voc-root", type=Path, help="use this VOC2012 tree's train split instead"
    )
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1)
