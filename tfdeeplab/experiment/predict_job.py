"""Label maps for image files: a `Predictor` and `predict_images(predictor, images,
out) -> PredictionReport`.

A `Predictor` is made from a recipe and weights (`Predictor.from_recipe`: the same
`SegmentationServer` computation an export holds, with this process's fastest
deformable convolution) or from an exported SavedModel (`Predictor.from_saved_model`:
its own settings, its `labels.json` colours). `predict_images` writes each image's
palette PNG and overlay (`evaluation.prediction`): outputs never replace one
another or an input, unreadable images and images too large for this machine's
memory are listed and skipped before any work on them, and the same call run again
continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdeeplab.atomic_files import OutputError
from tfdeeplab.checkpoint_reading import why_unreadable
from tfdeeplab.config import Recipe, load_recipe
from tfdeeplab.errors import Interrupted, TfdeeplabError, first_line
from tfdeeplab.evaluation import prediction
from tfdeeplab.evaluation.builder import crf_arguments, inference_settings
from tfdeeplab.evaluation.crf import dense_crf, require_crf
from tfdeeplab.evaluation.inference import InferenceSettings, bytes_per_pixel
from tfdeeplab.evaluation.weights import require_one_source
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.export.builder import serving_server
from tfdeeplab.export.labels_file import LABELS_FILE, read_labels
from tfdeeplab.run_directory import RECIPE_FILE
from tfdeeplab.system_memory import available_memory

# Memory a prediction needs besides its per-pixel share: the model, one batch of
# tiles through it, TensorFlow itself (measured: about 1.1 GB for the demo's model).
BASE_BYTES = 1.5e9


class SavedModelError(TfdeeplabError, ValueError):
    """A saved-model folder that is not an exported tfdeeplab model, or one that
    does not load; the message names it."""


class PredictionOutputExists(TfdeeplabError, FileExistsError):
    """Outputs that are already there and were not written by this model."""


@dataclasses.dataclass
class Predictor:
    """Images to label maps by one model and its settings.

    Args:
        probabilities: function uint8 RGB [H, W, 3] -> float32 [H, W, C].
        labels_of: function uint8 RGB [H, W, 3] -> int32 [H, W] (argmax in the
            graph: no [H, W, C] array reaches the host).
        colours: uint8 [256, 3]. The dataset's palette.
        class_names: tuple of str.
        crf: dict or None. `dense_crf` arguments; the labels are then the CRF's.
        description: str. What predicts (weights, settings), for lines and resume.
        settings: InferenceSettings, for the memory estimate.

    Example:
        >>> predictor = Predictor.from_recipe(recipe, checkpoint="runs/voc")
        >>> labels = predictor.labels(rgb)
    """

    probabilities: Callable[[np.ndarray], np.ndarray]
    labels_of: Callable[[np.ndarray], np.ndarray]
    colours: np.ndarray
    class_names: tuple[str, ...]
    crf: dict | None
    description: str
    settings: InferenceSettings

    def labels(self, rgb: np.ndarray) -> np.ndarray:
        """The label map int32 [H, W] of one uint8 RGB image (CRF-refined when the
        predictor has CRF settings)."""
        if self.crf is None:
            return self.labels_of(rgb)
        refined = dense_crf(self.probabilities(rgb), rgb, **self.crf)
        return refined.argmax(-1).astype(np.int32)

    def memory_needed(self, height: int, width: int) -> float:
        """Bytes predicting an image of this size takes (an estimate)."""
        classes = len(self.class_names)
        per_pixel = bytes_per_pixel(classes, self.settings)
        if self.crf is not None:  # probabilities on the host, and the CRF's own
            per_pixel += 3 * 4 * classes
        return BASE_BYTES + per_pixel * height * width

    @classmethod
    def from_recipe(
        cls,
        experiment: Experiment | Recipe,
        *,
        checkpoint: str | Path | None = None,
        weights: str | Path | None = None,
        crf: bool = False,
    ) -> Predictor:
        """An experiment's model with a checkpoint's (or weights file's) weights.

        Args:
            experiment: Experiment (or a Recipe).
            checkpoint: str, Path or None. A checkpoint prefix or run directory.
            weights: str, Path or None. A `.weights.h5` or `.keras` file instead.
            crf: bool. Refine with the recipe's dense CRF.

        Raises:
            WeightsError, CrfUnavailableError: one line each.
        """
        experiment = Experiment.of(experiment)
        recipe = experiment.recipe
        crf_settings = None
        if crf:
            require_crf()  # before any work
            crf_settings = crf_arguments(recipe)
        require_one_source(checkpoint, weights)
        built = experiment.build_model(checkpoint=checkpoint, weights=weights)
        server = serving_server(recipe, built.model, portable=False)
        spec = [tf.TensorSpec([None, None, 3], tf.uint8)]
        probabilities = tf.function(server.probabilities, input_signature=spec)

        @tf.function(input_signature=spec)
        def labels(rgb):
            return tf.argmax(server.probabilities(rgb), -1, output_type=tf.int32)

        return cls(
            probabilities=lambda rgb: probabilities(rgb).numpy(),
            labels_of=lambda rgb: labels(rgb).numpy(),
            colours=experiment.dataset.palette(),
            class_names=experiment.class_names,
            crf=crf_settings,
            description=f"{built.loaded} "
            f"({_settings_text(server.settings, crf_settings)})",
            settings=server.settings,
        )

    @classmethod
    def from_saved_model(cls, path: str | Path, *, crf: bool = False) -> Predictor:
        """An exported model: its own settings, its `labels.json` colours.

        Raises:
            SavedModelError: not an export of `python -m tfdeeplab.export` (another
                program's SavedModel too), or one that does not load (a truncated
                file): one line naming it.
            LabelsFileError, RecipeError, CrfUnavailableError: one line each.
        """
        path = Path(path).expanduser()
        assets = path / "assets"
        expected = [path / "saved_model.pb", assets / LABELS_FILE, assets / RECIPE_FILE]
        if not all(file.is_file() for file in expected):
            raise SavedModelError(
                f"{path}: not a SavedModel from python -m tfdeeplab.export "
                f"(expected saved_model.pb, assets/{LABELS_FILE} and "
                f"assets/{RECIPE_FILE})"
            )
        serve = _serving_default(path)
        labels = read_labels(assets / LABELS_FILE)
        recipe = load_recipe(assets / RECIPE_FILE)  # settings of the export
        crf_settings = None
        if crf:
            require_crf()
            crf_settings = crf_arguments(recipe)

        def outputs(rgb):
            return serve(images=tf.constant(rgb[None]))

        settings = inference_settings(recipe)
        return cls(
            probabilities=lambda rgb: outputs(rgb)["probabilities"][0].numpy(),
            labels_of=lambda rgb: outputs(rgb)["labels"][0].numpy(),
            colours=labels.colours,
            class_names=labels.class_names,
            crf=crf_settings,
            description=f"{path} ({_settings_text(settings, crf_settings)})",
            settings=settings,
        )


def _settings_text(settings: InferenceSettings, crf: dict | None) -> str:
    return (
        f"scales {list(settings.scales)}, window {list(settings.window or [])}, "
        f"flip {settings.flip}, CRF {'on' if crf else 'off'}"
    )


def _serving_default(path: Path):
    """The export's `serving_default`, checked to be ours before it is called."""
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as error:  # protobuf, OS and TensorFlow errors alike
        reason = (
            why_unreadable(path / "variables" / "variables", error)
            if isinstance(error, IndexError)
            else first_line(error)
        )
        raise SavedModelError(
            f"{path}: the SavedModel does not load ({reason}); export it again"
        ) from None
    serve = getattr(loaded, "signatures", {}).get("serving_default")
    inputs = serve.structured_input_signature[1] if serve is not None else {}
    images = inputs.get("images")
    outputs = serve.structured_outputs if serve is not None else {}
    ours = (
        images is not None
        and images.dtype == tf.uint8
        and images.shape.rank == 4
        and {"labels", "probabilities"} <= set(outputs)
    )
    if not ours:
        raise SavedModelError(
            f"{path}: not a SavedModel from python -m tfdeeplab.export (its "
            "serving_default does not take uint8 images to labels and probabilities)"
        )
    return serve


@dataclasses.dataclass
class PredictionReport:
    """What `predict_images` did.

    Args:
        out: Path. The output folder.
        written: list of (input, (label PNG, overlay JPEG)).
        reused: list of the inputs whose outputs this model had already written.
        skipped: list of one-line reasons, each naming its file.
    """

    out: Path
    written: list = dataclasses.field(default_factory=list)
    reused: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)

    def format(self) -> str:
        """The closing line."""
        parts = [f"{len(self.written)} written to {self.out}"]
        if self.reused:
            parts.append(f"{len(self.reused)} already done")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def _plan(predictor, images, out, force):
    """(state, work): each image with its outputs, or refusal before any work.

    Raises:
        PredictionOutputExists: an output exists that this model did not write
            (or that changed since), without `force`.
    """
    state = {} if force else prediction.read_state(out)
    same_model = state.get("model") == predictor.description
    done = state.get("images", {}) if same_model else {}
    work, foreign = [], []
    for image, paths in zip(
        images, prediction.planned_outputs(images, out), strict=True
    ):
        record = done.get(str(image))
        finished = (
            record is not None
            and record.get("outputs") == [str(p) for p in paths]
            and all(p.is_file() for p in paths)
            and record.get("sha256") == [prediction.file_sha256(p) for p in paths]
        )
        if not finished and not force:
            foreign += [p for p in paths if p.exists()]
        work.append((image, paths, finished))
    if foreign:
        raise PredictionOutputExists(
            f"{foreign[0]} exists ({len(foreign)} output(s) this model did not "
            "write would be overwritten); pass `force=True` or choose another `out`"
        )
    return dict(done), work


def predict_images(
    predictor: Predictor,
    images: Sequence[Path],
    out: str | Path,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> PredictionReport:
    """Write the label map and overlay of every image into `out`.

    Args:
        predictor: Predictor.
        images: image files (`evaluation.prediction.image_files`).
        out: str or Path. The output folder (created).
        force: bool. Overwrite outputs that are already there. Defaults to False.
        log: function taking one line of text.

    Returns:
        PredictionReport.

    Raises:
        PredictionOutputExists: before any work, for outputs already there that
            this model did not write (without `force`).
        OutputError: `out` cannot be written.
        Interrupted: on Ctrl-C (exit 130), saying how many images are done; the
            same call continues from there.

    Example:
        >>> report = predict_images(predictor, image_files(["photos/"]), "preds")
    """
    out = Path(out).expanduser()
    done, work = _plan(predictor, list(images), out, force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{out}: cannot write it ({error.strerror})") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"{out}: cannot write it (permission denied)")
    report = PredictionReport(out)
    log(f"predicting {len(work)} image(s) with {predictor.description}")
    try:
        for image, paths, finished in work:
            if finished:
                report.reused.append(image)
                continue
            problem = _too_large(predictor, image)
            if problem:
                report.skipped.append(problem)
                continue
            try:
                rgb = prediction.read_rgb(image)
            except ValueError as error:
                report.skipped.append(str(error))
                continue
            labels = predictor.labels(rgb)
            digests = prediction.write_prediction(labels, rgb, predictor.colours, paths)
            done[str(image)] = {"outputs": [str(p) for p in paths], "sha256": digests}
            prediction.write_state(out, predictor.description, done)
            report.written.append((image, paths))
    except KeyboardInterrupt:
        finished = len(report.written) + len(report.reused)
        raise Interrupted(
            f"interrupted after {finished} of {len(work)} images (their outputs in "
            f"{out} are complete); run the same command to continue"
        ) from None
    return report


def _too_large(predictor: Predictor, image: Path) -> str:
    """A one-line reason when the image cannot be predicted in this machine's
    memory (or read at all), else the empty string."""
    try:
        height, width = prediction.image_size(image)
    except ValueError as error:
        return str(error)
    needed = predictor.memory_needed(height, width)
    available = available_memory()
    if available is not None and needed > available:
        megapixels = height * width / 1e6
        return (
            f"{image}: {width}x{height} ({megapixels:.0f} MP) needs about "
            f"{math.ceil(needed / 1e8) / 10:.1f} GB, {available / 1e9:.1f} GB of "
            "memory is available"
        )
    return ""
