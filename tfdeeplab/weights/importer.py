"""Importing a published checkpoint into a recipe's model, with a report.

`plan_import(model, format, source)` reads the file (see `naming.py` for each
format's names), turns every tensor into our layout and folds what differs:
- Caffe BatchNorm blobs hold mean and variance times the scale factor of blob 2;
  they are divided by it (a factor of 0 means 0, as in Caffe);
- Keras Applications convolutions have biases before their BatchNorm: each bias is
  folded into the BatchNorm's moving mean (mean - bias), so conv + BN computes the
  same without it;
- BatchNorm epsilons differ (Keras Applications 1.001e-5, the others 1e-5, ours
  `model.batch_norm_epsilon`): the difference is added to the moving variance, so
  var + eps is unchanged.
It checks every shape, that every backbone weight of our model is covered by exactly
one source tensor and that the file's depth matches the recipe's; the head maps when
the recipe's head has the file's layers and shapes, otherwise the report says it
starts from its initialiser. Nothing is written unless all of that holds.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

import keras
import numpy as np

from tfdeeplab.atomic_files import OutputError, write_atomically
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.weights import naming

FORMATS = ("keras", "mxnet", "caffe", "torch")
SOURCE_EPSILON = {"keras": 1.001e-5, "mxnet": 1e-5, "caffe": 1e-5, "torch": 1e-5}
BACKBONE = re.compile(r"^(conv1|bn_conv1|res\d\w*_branch\w+|bn\d\w*_branch\w+)$")
# A unit's name within its stage; "res4[unit 7]" stands for a unit the model lacks.
_UNIT = re.compile(r"^(?:res|bn)(\d)([^_]+?)_branch")
_BN_VARIABLES = {
    "gamma": "gamma",
    "beta": "beta",
    "mean": "moving_mean",
    "variance": "moving_variance",
}


class WeightsImportError(TfdeeplabError, ValueError):
    """A source that does not fit the recipe's model; one line naming the tensor."""


@dataclasses.dataclass
class ImportPlan:
    """What an import assigns, and the report of every source tensor.

    Args:
        values: dict from our variable path to its new value.
        rows: list of (source name, source shape, target or "", target shape, note).
        notes: list of str, general remarks (head, stem, folding).
    """

    values: dict
    rows: list
    notes: list

    def report(self) -> str:
        """The table of every source tensor and the notes."""
        width = max((len(row[0]) for row in self.rows), default=10)
        lines = []
        for source, shape, target, target_shape, note in self.rows:
            arrow = f"-> {target} {target_shape}" if target else "   unused"
            lines.append(
                f"{source.ljust(width)} {str(shape):>20} {arrow}"
                + (f"  ({note})" if note else "")
            )
        used = sum(1 for row in self.rows if row[2])
        lines.append(
            f"{used} source tensors mapped, {len(self.rows) - used} unused; "
            f"{len(self.values)} model variables set"
        )
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def read_tensors(fmt: str, path: Path, units) -> list[tuple[str, tuple, list | None]]:
    """(source name, source shape, Tensors or None) for every tensor of the file."""
    from tfdeeplab.weights.caffe_model import read_caffemodel
    from tfdeeplab.weights.keras_h5 import read_keras_h5
    from tfdeeplab.weights.mxnet_params import read_mxnet_params
    from tfdeeplab.weights.torch_state import read_torch_state

    if fmt == "mxnet":
        return [
            (name, value.shape, naming.from_mxnet(name, value))
            for name, value in read_mxnet_params(path).items()
        ]
    if fmt == "caffe":
        return [
            (
                name,
                tuple(blob.shape for blob in blobs),
                naming.from_caffe(name, kind, blobs),
            )
            for name, (kind, blobs) in read_caffemodel(path).items()
        ]
    if fmt == "keras":
        return [
            (name, value.shape, naming.from_keras(name, value, units))
            for name, value in read_keras_h5(path).items()
        ]
    if fmt == "torch":
        return [
            (name, value.shape, naming.from_torch(name, value, units))
            for name, value in read_torch_state(path).items()
        ]
    raise WeightsImportError(
        f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})"
    )


def _unit_counts(layers) -> dict[str, int]:
    units = collections.defaultdict(set)
    for layer in layers:
        match = _UNIT.match(layer)
        if match:
            units[f"res{match.group(1)}"].add(match.group(2))
    return {stage: len(names) for stage, names in sorted(units.items())}


def plan_import(
    model: keras.Model,
    fmt: str,
    path: str | Path,
    *,
    units: dict[str, tuple[str, ...]],
    epsilon: float,
) -> ImportPlan:
    """Map the file's tensors onto `model`'s variables (see the module).

    Args:
        model: keras.Model from `build_model`.
        fmt: str. One of FORMATS.
        path: str or Path. The source file.
        units: dict from stage to the model's unit names (`resnet_unit_names`).
        epsilon: float. The model's BatchNorm epsilon.

    Returns:
        ImportPlan.

    Raises:
        WeightsFormatError: the file is not of that format (one line).
        WeightsImportError: a shape mismatch, a missing backbone tensor or a depth
            that does not match (one line naming the tensor).
    """
    path = Path(path)
    variables = {variable.path: variable for variable in model.weights}
    sources = read_tensors(fmt, path, units)
    by_layer = collections.defaultdict(dict)  # layer -> role -> (value, source)
    for name, _, tensors in sources:
        for tensor in tensors or ():
            by_layer[tensor.layer][tensor.role] = (tensor.value, name)

    ours = {stage: len(names) for stage, names in sorted(units.items())}
    theirs = _unit_counts(by_layer)
    if theirs and theirs != ours:
        raise WeightsImportError(
            f"{path}: the file's ResNet has {list(theirs.values())} units in "
            f"res2..res5, the recipe's model {list(ours.values())}; set model.depth "
            "(50, 101, 152) to the file's"
        )

    values, targets, folded = {}, {}, []
    source_eps = SOURCE_EPSILON[fmt]

    head_mismatches = {}  # source -> note

    def assign(target: str, value: np.ndarray, source: str):
        variable = variables[target]
        if tuple(value.shape) != tuple(variable.shape) and not BACKBONE.match(
            target.split("/")[0]
        ):
            head_mismatches[source] = (
                f"head: {tuple(value.shape)} does not fit {target} "
                f"{tuple(variable.shape)}; it starts from its initialiser"
            )
            return
        if tuple(value.shape) != tuple(variable.shape):
            raise WeightsImportError(
                f"{path}: {source}: shape {tuple(value.shape)} does not fit "
                f"{target} {tuple(variable.shape)}"
            )
        if target in values:
            raise WeightsImportError(
                f"{path}: {target} is given twice ({targets[target]} and {source})"
            )
        values[target] = np.asarray(value, np.float32)
        targets[target] = source

    biases_to_fold = {}
    for layer, roles in by_layer.items():
        if "kernel" in roles and f"{layer}/kernel" in variables:
            assign(f"{layer}/kernel", *roles["kernel"])
        if "bias" in roles:
            if f"{layer}/bias" in variables:
                assign(f"{layer}/bias", *roles["bias"])
            elif f"{naming.bn_name(layer)}/moving_mean" in variables:
                biases_to_fold[naming.bn_name(layer)] = roles["bias"]
    for layer, roles in by_layer.items():
        if f"{layer}/moving_mean" not in variables:
            continue
        if not all(role in roles for role in naming.BN_ROLES):
            missing = [role for role in naming.BN_ROLES if role not in roles]
            raise WeightsImportError(
                f"{path}: BatchNorm {layer} lacks {', '.join(missing)} in the file"
            )
        stats = {
            role: np.asarray(roles[role][0], np.float64) for role in naming.BN_ROLES
        }
        if "scale_factor" in roles:  # Caffe: blob 2 scales mean and variance
            factor = float(np.asarray(roles["scale_factor"][0]).ravel()[0])
            scale = 0.0 if factor == 0 else 1.0 / factor
            stats["mean"], stats["variance"] = (
                stats["mean"] * scale,
                stats["variance"] * scale,
            )
        if layer in biases_to_fold:
            stats["mean"] = stats["mean"] - biases_to_fold[layer][0]
            folded.append(layer)
        stats["variance"] = stats["variance"] + source_eps - epsilon
        if np.any(stats["variance"] < 0):
            raise WeightsImportError(
                f"{path}: {roles['variance'][1]}: a variance below the model's "
                f"BatchNorm epsilon difference ({epsilon} vs the file's {source_eps})"
            )
        for role, variable_name in _BN_VARIABLES.items():
            assign(f"{layer}/{variable_name}", stats[role], roles[role][1])

    missing = [
        name
        for name in variables
        if BACKBONE.match(name.split("/")[0])
        and name not in values
        and not name.split("/")[0].endswith(("_offset", "_mask"))
    ]
    if missing:
        raise WeightsImportError(
            f"{path}: no source tensor for backbone weight {missing[0]} "
            f"({len(missing)} missing); is --format {fmt} the file's format?"
        )

    used_sources = collections.defaultdict(list)
    for target, source in targets.items():
        used_sources[source].append(target)
    for layer in biases_to_fold:
        used_sources[biases_to_fold[layer][1]].append(f"{layer}/moving_mean (folded)")
    rows, head_unused = [], []
    for name, shape, tensors in sources:
        mapped = used_sources.get(name, [])
        target_shapes = [tuple(variables[t.split(" ")[0]].shape) for t in mapped]
        note = head_mismatches.get(name, "")
        if not mapped and tensors and not note:
            note = "not in the recipe's model"
            if any(not BACKBONE.match(t.layer) for t in tensors):
                head_unused.append(name)
                note = "head: the recipe's head differs"
        rows.append(
            (
                name,
                tuple(shape) if not isinstance(shape, tuple) else shape,
                ", ".join(mapped),
                ", ".join(map(str, target_shapes)),
                note,
            )
        )
    notes = []
    head = [
        name
        for name in variables
        if not BACKBONE.match(name.split("/")[0]) and name not in values
    ]
    if head:
        notes.append(
            f"{len(head)} head/extra variables start from their initialiser "
            f"({', '.join(sorted({h.split('/')[0] for h in head}))})"
        )
    if folded:
        notes.append(f"convolution biases folded into {len(folded)} BatchNorm means")
    if fmt == "keras":
        notes.append(
            "Keras Applications pool after ZeroPadding(1) with a valid 3x3/2 "
            "max-pool: the same as model.stem_pool_padding: 1 on odd sizes"
        )
    if source_eps != epsilon:
        notes.append(
            f"BatchNorm epsilon {source_eps} -> {epsilon} folded into the "
            "moving variances"
        )
    return ImportPlan(values, rows, notes)


def write_npz(values: dict, out: str | Path) -> Path:
    """Write `values` (variable path -> array) as the `.npz` `--init` loads, whole
    or not at all.

    Raises:
        OutputError: the file cannot be written (one line naming it).
    """
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{out}: cannot write it ({error.strerror})") from None

    def save(temporary: Path) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, **values)

    return write_atomically(out, save)
