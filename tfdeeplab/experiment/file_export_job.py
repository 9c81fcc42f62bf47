"""Exporting a trained model as one `.tflite` or `.onnx` file:
`export_file(recipe, out, file_format=...) -> FileExportResult`.

The recipe's model with a checkpoint's (or a weights file's) weights at one fixed
input size (`export.fixed_size`: uint8 RGB in, the recipe's channel order and mean
inside, labels and probabilities out at the input size), converted
(`export.tflite_file`, `export.onnx_file`), written whole or not at all, and then
run once in its own runtime in a fresh process that never imports tfdeeplab
(`export.model_file.run_in_runtime`). A quantized TFLite file is also compared
with the float32 network on the evaluation split's first images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tfdeeplab.config import Recipe
from tfdeeplab.errors import Interrupted
from tfdeeplab.evaluation.weights import require_one_source
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.export.builder import fixed_size_network, split_tiles
from tfdeeplab.export.calibration import Agreement, label_agreement
from tfdeeplab.export.formats import RUNTIMES
from tfdeeplab.export.model_file import (
    FormatError,
    check_model_file,
    require_package,
    run_in_runtime,
    write_model_file,
)
from tfdeeplab.models.builder import smallest_input_side

DEFAULT_CALIBRATION_IMAGES = 100
DEFAULT_CHECK_IMAGES = 16


@dataclasses.dataclass
class FileExportResult:
    """What a file export wrote and what its runtime said.

    Args:
        path: Path. The file.
        file_format: str. `tflite` or `onnx`.
        loaded: str. The checkpoint prefix or weights file exported.
        quantize: str. `none`, `float16` or `int8`.
        size_mb: float. The file's size.
        runtime: dict. `runtime_check`'s record: runtime and version, inputs and
            outputs (name, shape, dtype), seconds.
        agreement: Agreement or None. A quantized file against float32.
        notes: list of str. What the export decided (opset, deformable path).
    """

    path: Path
    file_format: str
    loaded: str
    quantize: str
    size_mb: float
    runtime: dict
    agreement: Agreement | None = None
    notes: list = dataclasses.field(default_factory=list)

    def format(self) -> str:
        """What was written: inputs, outputs, size, the runtime's run."""
        runtime = self.runtime
        lines = [f"wrote {self.path} ({self.size_mb:.1f} MB, {self.file_format}"]
        lines[0] += f", {self.quantize})" if self.file_format == "tflite" else ")"
        for entry in runtime["inputs"]:
            lines.append(f"  input  {entry['name']}: {entry['dtype']} {entry['shape']}")
        for entry in runtime["outputs"]:
            lines.append(f"  output {entry['name']}: {entry['dtype']} {entry['shape']}")
        lines += [f"  {note}" for note in self.notes]
        lines.append(
            f"ran once in {runtime['runtime']} on a random image, without tfdeeplab "
            f"or TensorFlow: {runtime['first_run_s']:.2f} s"
        )
        if self.agreement is not None:
            lines.append(f"{self.quantize}: {self.agreement.format()}")
        return "\n".join(lines)


def check_file_options(
    format_name: str,
    quantize: str,
    calibration_images_count: int | None,
) -> None:
    """Refuse, in one line, an option the format cannot carry.

    Raises:
        FormatError: quantization for ONNX, calibration images without int8.
    """
    if format_name == "onnx" and quantize != "none":
        raise FormatError(
            "`quantize`: only the tflite format is quantized here; quantize an ONNX "
            "file with onnxruntime.quantization"
        )
    if calibration_images_count is not None and quantize != "int8":
        raise FormatError("`calibration_images_count`: only `quantize=int8` calibrates")


def export_file(
    experiment: Experiment | Recipe,
    out: str | Path,
    *,
    file_format: str,
    checkpoint: str | Path | None = None,
    weights: str | Path | None = None,
    input_size: tuple[int, int] | None = None,
    quantize: str = "none",
    calibration_images_count: int | None = None,
    check_images: int = DEFAULT_CHECK_IMAGES,
    force: bool = False,
    log=print,
) -> FileExportResult:
    """Export the recipe's model at a fixed size as a `.tflite` or `.onnx` file.

    Args:
        experiment: Experiment (or a Recipe): the model, channel order, mean,
            crop size and shards.
        out: str or Path. The file (`.tflite` or `.onnx`).
        file_format: str. `tflite` or `onnx`.
        checkpoint: str, Path or None. A checkpoint prefix or run directory.
        weights: str, Path or None. A `.weights.h5` or `.keras` file instead.
        input_size: (height, width) or None. Defaults to the recipe's crop.
        quantize: str. `none`, `float16` or `int8` (TFLite only).
        calibration_images_count: int or None. int8's calibration images from
            the training split. Defaults to 100.
        check_images: int. Evaluation images a quantized file is compared on.
        force: bool. Replace an existing file of this format.
        log: function taking one line of text.

    Returns:
        FileExportResult.

    Raises:
        TfdeeplabError: one line each, before any work where it can be: an
            option the format cannot carry, a missing package (with its pip
            command), an `out` that may not be written, weights that do not fit,
            an op the format lacks, a file that does not run in its runtime;
            `Interrupted` on Ctrl-C with nothing written.

    Example:
        >>> export_file(Experiment.from_file("voc"), "voc.tflite",
        ...             file_format="tflite", checkpoint="runs/voc",
        ...             quantize="float16")
    """
    from tfdeeplab.export.onnx_file import onnx_bytes
    from tfdeeplab.export.tflite_file import tflite_bytes

    experiment = Experiment.of(experiment)
    recipe = experiment.recipe
    out = Path(out).expanduser()
    _check_before_work(out, file_format, quantize, calibration_images_count, force)
    size = _input_size(recipe, input_size)
    require_one_source(checkpoint, weights)
    built = experiment.build_model(checkpoint=checkpoint, weights=weights)
    loaded = built.loaded
    network = fixed_size_network(recipe, built.model, size)
    calibration = None
    if quantize == "int8":
        calibration = _calibration(experiment, calibration_images_count, size, log)
    log(f"exporting {loaded} as {file_format} at {size[0]}x{size[1]}")
    try:
        if file_format == "tflite":
            data = tflite_bytes(network, quantize, calibration)
        else:
            data = onnx_bytes(network)
        write_model_file(out, data)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: nothing was written to {out}; run the same command to export"
        ) from None
    result = FileExportResult(
        out, file_format, loaded, quantize, len(data) / 1e6, run_in_runtime(out)
    )
    result.notes = _notes(file_format, recipe)
    if file_format == "tflite" and quantize != "none" and check_images > 0:
        result.agreement = _agreement(experiment, network, out, size, check_images)
    return result


def _check_before_work(out, file_format, quantize, calibration_count, force) -> None:
    """The options, `--out` and the packages this export needs, in one line each."""
    from tfdeeplab.export.onnx_file import is_onnx_file
    from tfdeeplab.export.tflite_file import is_tflite_file

    check_file_options(file_format, quantize, calibration_count)
    is_model = is_tflite_file if file_format == "tflite" else is_onnx_file
    check_model_file(out, file_format, force, is_model)
    if file_format == "onnx":
        require_package("tf2onnx", "`file_format=onnx`", "tf2onnx onnxruntime")
    module, package = RUNTIMES[file_format]
    require_package(module, f"checking the {file_format} file", package)


def _input_size(recipe: Recipe, input_size) -> tuple[int, int]:
    """`input_size` or the recipe's crop; refused, before converting, below the
    smallest the model takes."""
    size = tuple(input_size or recipe.data.crop_size)
    smallest = smallest_input_side(recipe.model)
    if min(size) < smallest:
        raise FormatError(
            f"input size {size[0]}x{size[1]}: the model takes at least "
            f"{smallest}x{smallest} (its stem's max-pool"
            f"{' at the smallest MSC scale' if recipe.model.msc_scales else ''})"
        )
    return size


def _calibration(experiment: Experiment, count: int | None, size, log):
    """int8's representative images: a function the converter calls."""
    split = experiment.recipe.data.train_split
    count = count or DEFAULT_CALIBRATION_IMAGES
    files = experiment.shard_files(split)
    images = [rgb for rgb, _ in split_tiles(experiment.recipe, files, count, size)]
    if not images:
        raise FormatError(f"`quantize=int8`: {split} holds no images to calibrate on")
    log(f"calibrating int8 on {len(images)} images of {split}")
    return lambda: images


def _notes(format_name: str, recipe: Recipe) -> list[str]:
    """What the export decided, for the user to know."""
    from tfdeeplab.export.onnx_file import OPSET

    notes = ["one tile: the sliding window, scales and flip are the caller's"]
    if format_name == "onnx":
        notes.insert(0, f"ONNX opset {OPSET}")
    if recipe.model.deformable_units:
        notes.append("deformable convolutions as the reference's gathers")
    return notes


def _agreement(experiment, network, path: Path, size, count: int) -> Agreement:
    """The quantized file (LiteRT, here) against the float32 network."""
    from ai_edge_litert import interpreter as litert

    runner = litert.Interpreter(model_path=str(path)).get_signature_runner()
    files = experiment.shard_files()
    tiles = split_tiles(experiment.recipe, files, count, size)
    return label_agreement(
        tiles,
        lambda image: network.segment(image)["labels"].numpy(),
        lambda image: runner(image=np.asarray(image, np.uint8))["labels"],
        experiment.num_classes,
    )
