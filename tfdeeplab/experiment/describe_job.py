"""What a recipe builds: `describe(experiment) -> ModelDescription`.

The recipe's model, built and run once at the recipe's crop size: parameters
(trainable and frozen), learning-rate multipliers, the logits' size, build and
forward times. The quickest end-to-end check of a recipe.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tfdeeplab.config import Recipe
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.models import weight_multipliers


@dataclasses.dataclass
class ModelDescription:
    """A built model's facts.

    Args:
        recipe: Recipe. What was built.
        parameters: int. Every weight's values.
        trainable: int. Of them, trained.
        multipliers: list of str. The learning-rate multipliers other than x1.
        logits_shape: tuple of int. Of one crop-sized image, without the batch.
        build_seconds: float.
        forward_seconds: float. The first call (traces).
    """

    recipe: Recipe
    parameters: int
    trainable: int
    multipliers: list[str]
    logits_shape: tuple[int, ...]
    build_seconds: float
    forward_seconds: float

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) lines of the description."""
        model, recipe = self.recipe.model, self.recipe
        height, width = recipe.data.crop_size
        msc = f", MSC {list(model.msc_scales)}" if model.msc_scales else ""
        return [
            ("recipe", f"{recipe.name}: {recipe.description}"),
            (
                "backbone",
                f"ResNet-v1-{model.depth}, output stride "
                f"{model.output_stride}, stem pool pad "
                f"{model.stem_pool_padding}, BN {model.batch_norm}",
            ),
            ("head", f"{model.head}, upsampling {model.upsampling}{msc}"),
            ("deformable units", ", ".join(model.deformable_units) or "none"),
            (
                "parameters",
                f"{self.parameters:,} ({self.trainable:,} trainable, "
                f"{self.parameters - self.trainable:,} frozen)",
            ),
            ("lr multipliers", ", ".join(self.multipliers) or "none"),
            (
                "input -> logits",
                f"{height}x{width}x3 -> {'x'.join(str(d) for d in self.logits_shape)}",
            ),
            (
                "build / forward",
                f"{self.build_seconds:.1f} s / "
                f"{self.forward_seconds:.1f} s (first call)",
            ),
        ]

    def format(self) -> str:
        """The rows as an aligned table."""
        rows = self.rows()
        width = max(len(key) for key, _ in rows)
        return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


def describe(experiment: Experiment | Recipe) -> ModelDescription:
    """Build the recipe's model and run it once on a crop-sized image.

    Args:
        experiment: Experiment (or a Recipe).

    Example:
        >>> print(describe(Experiment.from_file("voc_dcn")).format())
    """
    experiment = Experiment.of(experiment)
    recipe = experiment.recipe
    start = time.perf_counter()
    model = experiment.build_model().model
    build_seconds = time.perf_counter() - start
    height, width = recipe.data.crop_size
    start = time.perf_counter()
    logits = model(np.zeros([1, height, width, 3], np.float32), training=False)
    forward_seconds = time.perf_counter() - start
    boosted = sorted(
        {
            f"x{m.learning_rate:g}"
            for m in weight_multipliers(model).values()
            if m.learning_rate != 1
        }
    )
    return ModelDescription(
        recipe=recipe,
        parameters=model.count_params(),
        trainable=sum(int(np.prod(v.shape)) for v in model.trainable_weights),
        multipliers=boosted,
        logits_shape=tuple(int(d) for d in logits.shape[1:]),
        build_seconds=build_seconds,
        forward_seconds=forward_seconds,
    )
