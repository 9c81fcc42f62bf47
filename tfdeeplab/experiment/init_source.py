"""What `--init` names: a weights file, or a training run's checkpoint.

A `.npz` or `.weights.h5` file is loaded by `tfdeeplab.weights.loader`. A run
directory or a checkpoint prefix (`runs/voc`, `runs/voc/checkpoints/ckpt-2000`) is
read by building the model of the run's own `recipe.yaml` and restoring the
checkpoint into it; its variables then initialise the new model, everything that
fits, so a 21-class VOC run starts a 5-class model with all but its classifier.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tfdeeplab.weights.loader import InitialWeightsError, require_weights_file


@dataclasses.dataclass(frozen=True)
class RunCheckpointWeights:
    """Initial weights from a run's checkpoint: called, the run's model restored.

    Args:
        path: str. A run directory, checkpoint folder or checkpoint prefix.

    Example:
        >>> source = RunCheckpointWeights("runs/voc")
        >>> load_initial_weights(model, source)["left_out"]
        ['score/kernel', 'score/bias']
    """

    path: str

    def __str__(self) -> str:
        return self.path

    def __call__(self):
        from tfdeeplab.config import RecipeError
        from tfdeeplab.evaluation.weights import WeightsError, resolve_checkpoint
        from tfdeeplab.experiment.experiment import Experiment
        from tfdeeplab.run_directory import run_directory_of

        try:
            prefix = resolve_checkpoint(self.path)
        except WeightsError as error:
            raise InitialWeightsError(f"init_weights {error}") from None
        run = run_directory_of(prefix)
        if run is None or not run.recipe.is_file():
            raise InitialWeightsError(
                f"init_weights {prefix}: no recipe.yaml of its run beside it, so the "
                "model it was trained as is unknown (give the run directory)"
            )
        try:
            experiment = Experiment.from_file(run.recipe)
        except RecipeError as error:
            raise InitialWeightsError(f"init_weights: {error}") from None
        try:
            return experiment.build_model(checkpoint=prefix).model
        except WeightsError as error:
            raise InitialWeightsError(f"init_weights {error}") from None


def init_source(init: str):
    """The initial weights `init` names: a checked file path, or a run's checkpoint.

    Raises:
        MissingWeightsFileError: neither a file nor a checkpoint (one line).
    """
    path = Path(init).expanduser()
    if path.is_dir() or Path(f"{path}.index").is_file():
        return RunCheckpointWeights(str(path))
    require_weights_file(path)
    return init
