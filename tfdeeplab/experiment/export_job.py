"""Exporting a trained model as a SavedModel: `export(recipe, out, ...) ->
ExportResult`.

The recipe's model with a checkpoint's (or a weights file's) weights, wrapped with
the recipe's normalisation and `eval` protocol (`export.serving`), written whole or
not at all (`export.saved_model`) with its `recipe.yaml` and `labels.json`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tfdeeplab.config import Recipe
from tfdeeplab.errors import Interrupted
from tfdeeplab.evaluation.inference import InferenceSettings
from tfdeeplab.evaluation.weights import require_one_source
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.export.builder import export_assets, serving_server
from tfdeeplab.export.saved_model import check_replaceable, export_saved_model


@dataclasses.dataclass
class ExportResult:
    """What an export wrote.

    Args:
        path: Path. The SavedModel folder.
        loaded: str. The checkpoint prefix or weights file exported.
        settings: InferenceSettings. The protocol in the graph.
        num_classes: int.
    """

    path: Path
    loaded: str
    settings: InferenceSettings
    num_classes: int

    def format(self) -> str:
        """What was written, its signatures and how to look at it."""
        return "\n".join(
            [
                f"wrote {self.path}",
                "  serving_default: images uint8 [N, H, W, 3] -> labels int32 "
                "[N, H, W], "
                f"probabilities float32 [N, H, W, {self.num_classes}]",
                "  serving_bytes: image_bytes string [N] (JPEG/PNG) -> the same",
                "  assets: recipe.yaml, labels.json",
                f"inspect it with: saved_model_cli show --dir {self.path} --all",
            ]
        )


def export(
    experiment: Experiment | Recipe,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    weights: str | Path | None = None,
    force: bool = False,
    log=print,
) -> ExportResult:
    """Export the recipe's model with the given weights as a SavedModel at `out`.

    Args:
        experiment: Experiment (or a Recipe): model, normalisation, `eval`
            protocol and dataset.
        out: str or Path. The SavedModel folder.
        checkpoint: str, Path or None. A checkpoint prefix or a run directory.
        weights: str, Path or None. A `.weights.h5` or `.keras` file instead.
        force: bool. Replace an existing SavedModel at `out` (never a folder
            holding anything else). Defaults to False.
        log: function taking one line of text.

    Returns:
        ExportResult.

    Raises:
        TfdeeplabError: one line each: weights missing or not fitting, an `out`
            that may not be replaced or cannot be written; `Interrupted` (exit
            130) on Ctrl-C, with nothing written.

    Example:
        >>> export(Experiment.from_file("voc"), "exported/voc",
        ...        checkpoint="runs/voc")
    """
    experiment = Experiment.of(experiment)
    recipe = experiment.recipe
    out = Path(out).expanduser()
    check_replaceable(out, force)  # before the model is built
    require_one_source(checkpoint, weights)
    built = experiment.build_model(checkpoint=checkpoint, weights=weights)
    loaded = built.loaded
    server = serving_server(recipe, built.model)
    settings = server.settings
    log(
        f"exporting {loaded}: scales {list(settings.scales)}, window "
        f"{list(settings.window or [])}, flip {settings.flip}"
    )
    try:
        path = export_saved_model(
            server, out, export_assets(recipe, experiment.dataset), force=force
        )
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: nothing was written to {out}; run the same command to export"
        ) from None
    return ExportResult(path, loaded, settings, recipe.model.num_classes)
