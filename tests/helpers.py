"""Helpers the tests share (fixtures stay in conftest.py files)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from pycocotools import mask as coco_mask

from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab import predict as predict_cli
from tfdeeplab import shard_format
from tfdeeplab import train as train_cli
from tfdeeplab.config import ModelConfig, load_recipe
from tfdeeplab.data.augment import Augmentation
from tfdeeplab.data.builder import eval_dataset, train_dataset
from tfdeeplab.experiment import Experiment
from tfdeeplab.experiment.demo_job import RECIPE as DEMO_RECIPE
from tfdeeplab.export.__main__ import main as export_cli
from tfdeeplab.ops.deformable_conv.reference import output_size

# The seed's settings (SPEC §3), written out here rather than read from the schema.
SEED_AUGMENTATION = Augmentation(
    crop_size=(321, 321),
    scale_range=(0.7, 1.5),
    aspect_ratio_tolerance=0.15,
    max_resize_attempts=50,
    image_interpolation="bilinear",
    pad_value=255,
    flip_probability=0.5,
    channel_order="bgr",
    mean=(104.0, 116.0, 122.0),
)


def train_batches(recipe, *args, **kwargs) -> tf.data.Dataset:
    """`train_dataset` of a recipe's training shards, found as a job finds them."""
    files = Experiment.from_recipe(recipe).shard_files(recipe.data.train_split)
    return train_dataset(recipe, files, *args, **kwargs)


def eval_images(recipe, split: str | None = None) -> tf.data.Dataset:
    """`eval_dataset` of a recipe's split (default its `eval_split`)."""
    return eval_dataset(recipe, Experiment.from_recipe(recipe).shard_files(split))


def tiny_model() -> ModelConfig:
    """A 2-2-2-2 unit ResNet-50-style DeepLab, small enough for 65x65 tests."""
    return ModelConfig(
        num_classes=5,
        depth=50,
        units_per_stage=(2, 2, 2, 2),
        output_stride=16,
        fc6_channels=32,
    )


def tiny(config: ModelConfig, **changes) -> ModelConfig:
    """`config` with some fields replaced (the schema checks run again)."""
    changed = dataclasses.replace(config, **changes)
    changed.check()
    return changed


def tiny_overrides(shards, *more) -> list[str]:
    """`--set` overrides turning recipes/demo.yaml into a seconds-long run."""
    return [
        f"data.root={shards}",
        "data.num_train_images=16",
        "data.crop_size=[33, 33]",
        "data.shuffle_buffer=8",
        "data.deterministic=true",
        "train.batch_size=2",
        "train.max_steps=6",
        "train.checkpoint_every=2",
        "train.log_every=1",
        "train.validation_images=2",
        "train.image_panels=2",
        *more,
    ]


def tiny_recipe(shards, *more):
    """recipes/demo.yaml with `tiny_overrides` on the shards at `shards`."""
    return load_recipe(DEMO_RECIPE, tiny_overrides(shards, *more))


def assert_serialization_round_trip(layer_class, init_kwargs, inputs, atol=1e-6):
    """A layer survives `keras.saving` with every constructor argument and its outputs.

    keras-hub's serialization harness, reduced: the restored layer's config must
    hold each of `init_kwargs` with the value given (so an argument missing from
    `get_config` fails, which comparing two `get_config()`s would not catch), and with
    the original's weights the restored layer must compute the same outputs.

    Args:
        layer_class: type. The layer class.
        init_kwargs: dict. Every constructor argument, each set away from its
            default, in the form `get_config` reports it (tuples for Keras' own
            sizes, initializer objects).
        inputs: what the layer is called on.
        atol: float. Tolerance of the output comparison.
    """
    import keras
    import numpy as np

    layer = layer_class(**init_kwargs)
    layer(inputs)  # build
    rng = np.random.default_rng(0)
    for weight in layer.weights:  # move every weight off its initial value
        weight.assign(np.abs(weight.numpy() + rng.normal(0, 0.1, weight.shape)))
    expected = keras.ops.convert_to_numpy(layer(inputs))

    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(restored) is layer_class
    config = restored.get_config()
    serialize = keras.saving.serialize_keras_object
    for key, value in init_kwargs.items():
        assert key in config, f"{key} is missing from get_config()"
        assert serialize(config[key]) == serialize(value), key
    restored(inputs)  # build
    restored.set_weights(layer.get_weights())
    got = keras.ops.convert_to_numpy(restored(inputs))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=atol)
    return restored


def shards_overrides(path, folder_shards) -> list[str]:
    """The `--set` a recipe file needs to load in a test: a `from_shards` recipe
    (recipes/custom.yaml) takes its dataset from shards, here `folder_shards`."""
    path = Path(path)
    while True:  # the file, then the recipes it extends
        text = path.read_text()
        if "dataset: from_shards" in text:
            return [f"data.root={folder_shards}"]
        base = [line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith("base:")]  # fmt: skip
        if not base:
            return []
        path = path.parent / base[0]


# recipes/demo.yaml's small model, so the demo's 21-class run can initialise it.
TINY_MODEL = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.fc6_channels=64",
    "model.batch_norm=train",
    "model.frozen_stages=[]",
    "data.num_train_images=9",
]


def custom_recipe(folder_shards, *more):
    """recipes/custom.yaml on `folder_shards` with the demo's small model, 3 steps."""
    overrides = [*tiny_overrides(folder_shards, *TINY_MODEL), "train.max_steps=3"]
    overrides.remove("data.num_train_images=16")
    return load_recipe("custom", [*overrides, *more])


# ------------------------------------------------------------------ converted shards
def labels_in(out, split) -> dict:
    """{stem: label} of a split's records."""
    found = {}
    for path in sorted(out.glob(f"{split}-*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            example = tf.train.Example.FromString(record).features.feature
            name = example[shard_format.IMAGE_FILENAME].bytes_list.value[0].decode()
            png = example[shard_format.LABEL_ENCODED].bytes_list.value[0]
            found[name] = np.array(Image.open(io.BytesIO(png)))
    return found


# ------------------------------------------------------------------ COCO files
H, W = 48, 64
CATEGORIES = [
    {"id": 1, "name": "person"},
    {"id": 18, "name": "dog"},
    {"id": 38, "name": "kite"},  # not a VOC class
    {"id": 62, "name": "chair"},
]


def box(top, left, bottom, right):
    return [left, top, right, top, right, bottom, left, bottom]


def rle_of(array):
    encoded = coco_mask.encode(np.asfortranarray(array.astype(np.uint8)))
    return {"size": [H, W], "counts": encoded["counts"].decode()}


def coco_file(tmp_path, annotations, images=None, name="instances.json"):
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    images = images or [{"id": i, "file_name": f"{i:04d}.jpg", "height": H,
                         "width": W} for i in (1, 2, 3)]  # fmt: skip
    for image in images:
        Image.new("RGB", (W, H), (90, 120, 150)).save(folder / image["file_name"])
    path = tmp_path / name
    record = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    path.write_text(json.dumps(record))
    return path, folder


def annotation(id_, image, category, segmentation, crowd=0):
    return {"id": id_, "image_id": image, "category_id": category,
            "segmentation": segmentation, "iscrowd": crowd}  # fmt: skip


# ------------------------------------------------------------------ commands
def run_predict(demo_shards, trained_run, out, *images, more=()):
    """`python -m tfdeeplab.predict` on `images` with the tiny demo run."""
    from tfdeeplab import predict as predict_cli

    return predict_cli.main(
        [
            *map(str, images),
            "--recipe",
            str(DEMO_RECIPE),
            "--checkpoint",
            str(trained_run),
            "--out",
            str(out),
            *more,
            "--set",
            *tiny_overrides(demo_shards),
        ]
    )


def random_case(
    seed,
    batch,
    height,
    width,
    channels,
    filters,
    stride,
    pad,
    dilation,
    groups,
    modulated,
    dtype=np.float64,
    offset_range=3.5,
):
    rng = np.random.default_rng(seed)
    ho = output_size(height, 3, stride, pad, dilation)
    wo = output_size(width, 3, stride, pad, dilation)
    inputs = {
        "inputs": rng.normal(size=(batch, height, width, channels)),
        # Fractional offsets of up to 3.5 pixels push samples past every border.
        "offsets": rng.uniform(
            -offset_range, offset_range, size=(batch, ho, wo, 2 * groups * 9)
        ),
        "kernel": rng.normal(size=(3, 3, channels, filters)),
    }
    if modulated:
        inputs["mask"] = rng.uniform(0, 1, size=(batch, ho, wo, groups * 9))
    tensors = {key: tf.constant(value.astype(dtype)) for key, value in inputs.items()}
    options = {
        "strides": stride,
        "padding": pad,
        "dilation": dilation,
        "deformable_groups": groups,
    }
    return tensors, options


def fingerprints(directory: Path) -> dict:
    """sha256 of every file below `directory`, by relative path."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# A small `eval` protocol with every path: two scales, flip, tiles in batches.
SMALL = ["eval.scales=[0.75, 1.0]", "eval.flip=true", "eval.tile_batch=3"]


def run_evaluate(demo_shards, *arguments, more=()):
    return evaluate_cli.main(
        [
            str(DEMO_RECIPE),
            *arguments,
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
            *SMALL,
            *more,
        ]
    )


# The commands as the fault tests call them, and what they check with.
# sysfs refuses new files and folders, even to root.
UNWRITABLE = Path("/sys/tfdeeplab-output")


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err, captured.err
    return errors[0]


def cut(path: Path, keep: float) -> None:
    """Cut a file to `keep` of its bytes, as a full disk or a killed copy leaves it."""
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def photos(folder: Path, count: int = 2, size=(30, 40)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"photo{index}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def train_command(demo_shards, workdir, *more):
    return train_cli.main(
        [
            str(DEMO_RECIPE),
            "--workdir",
            str(workdir),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards, *more),
        ]
    )


def evaluate_command(demo_shards, *arguments):
    return evaluate_cli.main(
        [
            str(DEMO_RECIPE),
            *arguments,
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
        ]
    )


def export_command(demo_shards, *arguments):
    return export_cli(
        [
            str(DEMO_RECIPE),
            *arguments,
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
        ]
    )


def predict_command(demo_shards, *arguments):
    return predict_cli.main(
        [*arguments, "--set", *tiny_overrides(demo_shards), "eval.scales=[1.0]"]
    )


# ------------------------------------------------------------ loopback HTTP server
# For the fetch and reproduce tests (the `server` fixture): files served whole or by
# Range, statuses, redirects, and connections cut short, on 127.0.0.1 only.
class Routes:
    """What the server answers for each path, and the requests it saw."""

    def __init__(self):
        self.files, self.statuses, self.redirects, self.cuts = {}, {}, {}, {}
        self.delays = {}  # path -> seconds before the answer
        self.requests = []

    def serve(self, path, data: bytes, cut_after: int | None = None):
        """Serve `data` at `path`; the first `cut_after` bytes only, the first time."""
        self.files[path] = data
        if cut_after is not None:
            self.cuts[path] = cut_after


class LoopbackHandler(http.server.BaseHTTPRequestHandler):
    routes: Routes

    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = self.routes
        routes.requests.append((self.path, self.headers.get("Range")))
        if self.path in routes.delays:
            time.sleep(routes.delays[self.path])
        if self.path in routes.statuses:
            self.send_error(routes.statuses[self.path])
            return
        if self.path in routes.redirects:
            self.send_response(302)
            self.send_header("Location", routes.redirects[self.path])
            self.end_headers()
            return
        if self.path not in routes.files:
            self.send_error(404)
            return
        data = routes.files[self.path]
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
            )
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = routes.cuts.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])
        if cut is not None:
            self.close_connection = True
