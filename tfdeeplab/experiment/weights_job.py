"""Published pretrained weights for `--init`: `import_weights(experiment,
format, source, out) -> ImportPlan` and `inspect_weights(path) -> tensors`.

The recipe's model is built to map the file's tensors onto (`weights.importer`);
nothing is written unless every backbone weight is covered and every shape fits.
"""

from __future__ import annotations

from pathlib import Path

from tfdeeplab.atomic_files import OutputError
from tfdeeplab.catalog.resnet_layout import resnet_unit_names
from tfdeeplab.config import Recipe
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.weights.formats import format_of_file, weight_format
from tfdeeplab.weights.importer import ImportPlan, plan_import, write_npz
from tfdeeplab.weights.mxnet_params import WeightsFormatError


class ImportOutputExists(OutputError, FileExistsError):
    """The `.npz` to write exists and `force` was not given."""


def _require_source(path: Path) -> None:
    if not path.is_file():
        raise WeightsFormatError(f"{path}: no such file (nothing is downloaded)")


def inspect_weights(
    path: str | Path, fmt: str | None = None
) -> tuple[str, list[tuple]]:
    """The format and (name, shape) of every tensor of a weights file; the format
    from the extension unless given.

    Raises:
        WeightsFormatError: a missing file, an unknown extension, a file that is
            not of its format (one line naming it).
    """
    path = Path(path).expanduser()
    _require_source(path)
    found = weight_format(fmt) if fmt else format_of_file(path)
    if found is None:
        raise WeightsFormatError(f"{path}: unknown extension; pass `fmt`")
    return found.name, [(name, shape) for name, shape, _ in found.tensors(path, {})]


def import_weights(
    experiment: Experiment | Recipe,
    fmt: str,
    source: str | Path,
    out: str | Path,
    *,
    force: bool = False,
) -> ImportPlan:
    """Map a published file onto the recipe's model and write the `.npz` `--init`
    loads.

    Args:
        experiment: Experiment (or a Recipe): the model the weights are for.
        fmt: str. `mxnet`, `caffe`, `keras` or `torch`.
        source: str or Path. The published file.
        out: str or Path. The `.npz` to write, whole or not at all.
        force: bool. Replace an existing `out`. Defaults to False.

    Returns:
        ImportPlan, whose `report()` lists every source tensor.

    Raises:
        WeightsFormatError, WeightsImportError: the file is not of its format, or
            does not fit the model (one line naming the tensor); nothing written.
        OutputError: `out` exists without `force`, is a folder, or cannot be
            written.

    Example:
        >>> plan = import_weights(Experiment.from_file("voc"), "mxnet",
        ...                       "resnet_v1_101-0000.params", "weights/r101.npz")
    """
    source, out = Path(source).expanduser(), Path(out).expanduser()
    _require_source(source)
    if out.is_dir():
        raise OutputError(f"{out}: a folder; `out` names the .npz file to write")
    if out.exists() and not force:
        raise ImportOutputExists(
            f"{out} exists; pass `force=True` to replace it or choose another `out`"
        )
    experiment = Experiment.of(experiment)
    config = experiment.recipe.model
    model = experiment.build_model().model
    units = resnet_unit_names(config.depth, config.units_per_stage or None)
    plan = plan_import(
        model, fmt, source, units=units, epsilon=config.batch_norm_epsilon
    )
    write_npz(plan.values, out)
    return plan
