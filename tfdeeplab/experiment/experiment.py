"""One resolved experiment: a recipe, its dataset and its inference settings, and
the model they describe; every job takes one.

A recipe names its dataset by name and root; `Experiment.from_recipe` resolves it
once (the table's entry, or the one a `from_shards` manifest records) and derives
the `eval` protocol's settings, so no job reads `manifest.json` or the recipe's
`eval` section again. `build_model` builds the recipe's model, under a
distribution strategy where one is given, with its weights from a checkpoint, a
weights file or nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.config import Recipe, load_recipe
from tfdeeplab.evaluation.builder import inference_settings
from tfdeeplab.evaluation.inference import InferenceSettings
from tfdeeplab.shard_format import dataset_of


@dataclasses.dataclass(frozen=True)
class WeightedModel:
    """A recipe's model and what its weights came from.

    Args:
        model: keras.Model.
        loaded: str or None. The checkpoint prefix or weights file loaded; None
            for the freshly initialised model.
    """

    model: object
    loaded: str | None


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A recipe with its dataset resolved and its inference settings derived.

    Args:
        recipe: Recipe. The whole recipe, as loaded.
        dataset: DatasetDescriptor. The recipe's dataset: class names, colours,
            ignore label, splits and the commands that convert and verify it.
        settings: InferenceSettings. The recipe's `eval` protocol.

    Example:
        >>> experiment = Experiment.from_file("voc")
        >>> experiment.class_names[15], experiment.settings.scales
        ('person', (1.0,))
    """

    recipe: Recipe
    dataset: DatasetDescriptor
    settings: InferenceSettings

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> Experiment:
        """The experiment of a loaded recipe (its dataset resolved once here).

        Raises:
            UnknownDatasetError, ManifestError: one line each (a recipe from
                `load_recipe` was already checked for both).
        """
        return cls(
            recipe=recipe,
            dataset=dataset_of(recipe.data.dataset, recipe.data.root),
            settings=inference_settings(recipe),
        )

    @classmethod
    def from_file(cls, path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
        """The experiment of a recipe file with `key=value` overrides.

        Raises:
            RecipeError: one line naming the file, key and problem.

        Example:
            >>> Experiment.from_file("demo", ["train.max_steps=5"])
        """
        return cls.from_recipe(load_recipe(path, list(overrides)))

    @classmethod
    def of(cls, source: Experiment | Recipe) -> Experiment:
        """`source` itself, or the experiment of a recipe: what each job calls
        first, so a job takes either."""
        return source if isinstance(source, Experiment) else cls.from_recipe(source)

    @property
    def name(self) -> str:
        """The recipe's name."""
        return self.recipe.name

    @property
    def num_classes(self) -> int:
        """The model's classes."""
        return self.recipe.model.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        """The name of each of the model's class ids."""
        return tuple(self.dataset.class_name(i) for i in range(self.num_classes))

    def shard_files(self, split: str | None = None) -> list[str]:
        """The shards of `split` (default the recipe's `eval_split`).

        Raises:
            MissingShardsError: one line naming the path and the converter command.
        """
        from tfdeeplab.data.records import shard_files

        data = self.recipe.data
        return shard_files(data.root, split or data.eval_split, self.dataset)

    def verifier(self) -> str:
        """The command that checks this experiment's shards record by record."""
        return self.dataset.verifier(self.recipe.data.root)

    def build_model(
        self,
        *,
        checkpoint: str | Path | None = None,
        weights: str | Path | None = None,
        strategy=None,
    ) -> WeightedModel:
        """The recipe's model with its weights: a checkpoint, a weights file or
        neither (freshly initialised).

        Args:
            checkpoint: str, Path or None. A checkpoint prefix or a run directory
                (its newest checkpoint).
            weights: str, Path or None. A `.weights.h5` or `.keras` file.
            strategy: tf.distribute.Strategy or None. Build under its scope.

        Raises:
            WeightsError: both given, or weights missing or not fitting (one line).

        Example:
            >>> built = experiment.build_model(checkpoint="runs/voc")
            >>> built.loaded
            'runs/voc/checkpoints/ckpt-30000'
        """
        from tfdeeplab.evaluation.weights import load_weights
        from tfdeeplab.models import build_model

        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            model = build_model(self.recipe.model)
        if checkpoint is None and weights is None:
            return WeightedModel(model, None)
        return WeightedModel(
            model, load_weights(model, checkpoint=checkpoint, weights=weights)
        )
