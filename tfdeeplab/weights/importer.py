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
from tfdeeplab.catalog.resnet_layout import batch_norm_name
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.weights import naming
from tfdeeplab.weights.formats import weight_format

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


def _unit_counts(layers) -> dict[str, int]:
    units = collections.defaultdict(set)
    for layer in layers:
        match = _UNIT.match(layer)
        if match:
            units[f"res{match.group(1)}"].add(match.group(2))
    return {stage: len(names) for stage, names in sorted(units.items())}


class _Assignments:
    """The values an import sets, and the head-versus-backbone policy: a backbone
    tensor that does not fit is an error; a head tensor that does not fit (another
    class count, another head) is reported and its variable keeps its init."""

    def __init__(self, path: Path, variables: dict):
        self.path = path
        self.variables = variables
        self.values: dict[str, np.ndarray] = {}
        self.sources: dict[str, str] = {}  # target -> source tensor
        self.head_mismatches: dict[str, str] = {}  # source -> note

    def assign(self, target: str, value: np.ndarray, source: str) -> None:
        variable = self.variables[target]
        fits = tuple(value.shape) == tuple(variable.shape)
        if not fits and not BACKBONE.match(target.split("/")[0]):
            self.head_mismatches[source] = (
                f"head: {tuple(value.shape)} does not fit {target} "
                f"{tuple(variable.shape)}; it starts from its initialiser"
            )
            return
        if not fits:
            raise WeightsImportError(
                f"{self.path}: {source}: shape {tuple(value.shape)} does not fit "
                f"{target} {tuple(variable.shape)}"
            )
        if target in self.values:
            raise WeightsImportError(
                f"{self.path}: {target} is given twice ({self.sources[target]} and "
                f"{source})"
            )
        self.values[target] = np.asarray(value, np.float32)
        self.sources[target] = source


def _tensors_by_layer(sources) -> dict:
    """layer -> role -> (value, source name), for every tensor the file maps."""
    by_layer = collections.defaultdict(dict)
    for name, _, tensors in sources:
        for tensor in tensors or ():
            by_layer[tensor.layer][tensor.role] = (tensor.value, name)
    return by_layer


def _check_depth(path: Path, by_layer: dict, units: dict) -> None:
    ours = {stage: len(names) for stage, names in sorted(units.items())}
    theirs = _unit_counts(by_layer)
    if theirs and theirs != ours:
        raise WeightsImportError(
            f"{path}: the file's ResNet has {list(theirs.values())} units in "
            f"res2..res5, the recipe's model {list(ours.values())}; set model.depth "
            "(50, 101, 152) to the file's"
        )


def _assign_convolutions(by_layer: dict, assignments: _Assignments) -> dict:
    """Kernels and biases; returns the biases to fold into BatchNorms (Keras)."""
    variables, biases_to_fold = assignments.variables, {}
    for layer, roles in by_layer.items():
        if "kernel" in roles and f"{layer}/kernel" in variables:
            assignments.assign(f"{layer}/kernel", *roles["kernel"])
        if "bias" in roles:
            if f"{layer}/bias" in variables:
                assignments.assign(f"{layer}/bias", *roles["bias"])
            elif f"{batch_norm_name(layer)}/moving_mean" in variables:
                biases_to_fold[batch_norm_name(layer)] = roles["bias"]
    return biases_to_fold


def _batch_norm_statistics(
    path: Path, layer: str, roles: dict, folded_bias, source_eps: float, epsilon: float
) -> dict:
    """Gamma, beta, mean and variance of one BatchNorm in our terms: Caffe's scale
    factor divided out, a folded bias taken off the mean, the epsilons' difference
    added to the variance."""
    if not all(role in roles for role in naming.BN_ROLES):
        missing = [role for role in naming.BN_ROLES if role not in roles]
        raise WeightsImportError(
            f"{path}: BatchNorm {layer} lacks {', '.join(missing)} in the file"
        )
    stats = {role: np.asarray(roles[role][0], np.float64) for role in naming.BN_ROLES}
    if "scale_factor" in roles:  # Caffe: blob 2 scales mean and variance
        factor = float(np.asarray(roles["scale_factor"][0]).ravel()[0])
        scale = 0.0 if factor == 0 else 1.0 / factor
        stats["mean"], stats["variance"] = (
            stats["mean"] * scale,
            stats["variance"] * scale,
        )
    if folded_bias is not None:
        stats["mean"] = stats["mean"] - folded_bias[0]
    stats["variance"] = stats["variance"] + source_eps - epsilon
    if np.any(stats["variance"] < 0):
        raise WeightsImportError(
            f"{path}: {roles['variance'][1]}: a variance below the model's "
            f"BatchNorm epsilon difference ({epsilon} vs the file's {source_eps})"
        )
    return stats


def _assign_batch_norms(
    by_layer: dict, assignments: _Assignments, biases_to_fold: dict, source_eps, epsilon
) -> list[str]:
    """Every BatchNorm of the model; returns the layers a bias was folded into."""
    folded = []
    for layer, roles in by_layer.items():
        if f"{layer}/moving_mean" not in assignments.variables:
            continue
        stats = _batch_norm_statistics(
            assignments.path,
            layer,
            roles,
            biases_to_fold.get(layer),
            source_eps,
            epsilon,
        )
        if layer in biases_to_fold:
            folded.append(layer)
        for role, variable_name in _BN_VARIABLES.items():
            assignments.assign(f"{layer}/{variable_name}", stats[role], roles[role][1])
    return folded


def _check_backbone_covered(fmt: str, assignments: _Assignments) -> None:
    missing = [
        name
        for name in assignments.variables
        if BACKBONE.match(name.split("/")[0])
        and name not in assignments.values
        and not name.split("/")[0].endswith(("_offset", "_mask"))
    ]
    if missing:
        raise WeightsImportError(
            f"{assignments.path}: no source tensor for backbone weight {missing[0]} "
            f"({len(missing)} missing); is `fmt={fmt}` the file's format?"
        )


def _report_rows(sources, assignments: _Assignments, biases_to_fold: dict) -> list:
    """One row per source tensor: where it went, or why it is unused."""
    used = collections.defaultdict(list)
    for target, source in assignments.sources.items():
        used[source].append(target)
    for layer, (_, source) in biases_to_fold.items():
        used[source].append(f"{layer}/moving_mean (folded)")
    rows = []
    for name, shape, tensors in sources:
        mapped = used.get(name, [])
        shapes = [tuple(assignments.variables[t.split(" ")[0]].shape) for t in mapped]
        note = assignments.head_mismatches.get(name, "")
        if not mapped and tensors and not note:
            note = "not in the recipe's model"
            if any(not BACKBONE.match(t.layer) for t in tensors):
                note = "head: the recipe's head differs"
        shape = tuple(shape) if not isinstance(shape, tuple) else shape
        rows.append((name, shape, ", ".join(mapped), ", ".join(map(str, shapes)), note))
    return rows


def _notes(fmt: str, assignments: _Assignments, folded: list, source_eps, epsilon):
    notes = []
    head = [
        name
        for name in assignments.variables
        if not BACKBONE.match(name.split("/")[0]) and name not in assignments.values
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
    return notes


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
        fmt: str. A `formats.FORMATS` name.
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
    sources = weight_format(fmt).tensors(path, units)
    by_layer = _tensors_by_layer(sources)
    _check_depth(path, by_layer, units)
    assignments = _Assignments(path, {v.path: v for v in model.weights})
    source_eps = weight_format(fmt).batch_norm_epsilon
    biases_to_fold = _assign_convolutions(by_layer, assignments)
    folded = _assign_batch_norms(
        by_layer, assignments, biases_to_fold, source_eps, epsilon
    )
    _check_backbone_covered(fmt, assignments)
    rows = _report_rows(sources, assignments, biases_to_fold)
    notes = _notes(fmt, assignments, folded, source_eps, epsilon)
    return ImportPlan(assignments.values, rows, notes)


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
