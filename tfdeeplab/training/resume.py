"""What may change when a run directory is trained again (resumed).

A run's `recipe.yaml` is the recipe its checkpoints were trained with. Resuming with
another recipe is allowed only for keys that do not change what the checkpoints mean:
how long to train, how often to log, checkpoint and validate, where the data is,
evaluation settings. Any other difference (the model, the dataset, the augmentation,
the schedule's shape) is refused, listing the keys, before anything is built or
overwritten.
"""

from __future__ import annotations

from tfdeeplab.config import Recipe, RecipeError, load_recipe, recipe_to_dict
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.run_directory import RunDirectory

# Keys (or key prefixes ending in ".") that may differ from the run's recipe.yaml.
MAY_CHANGE_ON_RESUME = (
    "name",
    "description",
    "data.root",
    "train.max_steps",
    "train.end_epoch",
    "train.log_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.validate_every",
    "train.validation_images",
    "train.image_panels",
    "train.init_weights",
    "train.distribution",
    "train.jit_compile",
    "eval.",
)


class RecipeChangedError(TfdeeplabError, ValueError):
    """A resume whose recipe differs from the run's in keys that may not change."""


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _may_change(key: str) -> bool:
    return any(
        key.startswith(allowed) if allowed.endswith(".") else key == allowed
        for allowed in MAY_CHANGE_ON_RESUME
    )


def recipe_changes(recipe: Recipe, directory: RunDirectory) -> list[str]:
    """Compare `recipe` with the recipe the run in `directory` was trained with.

    Args:
        recipe: Recipe. The recipe of this run.
        directory: RunDirectory. A directory holding a `recipe.yaml`.

    Returns:
        list of `key: old -> new` for the keys that may change and did.

    Raises:
        RecipeChangedError: one line listing every key that differs and may not
            (or naming an unreadable `recipe.yaml`).

    Example:
        >>> recipe_changes(load_recipe("voc", ["train.max_steps=9"]),
        ...                RunDirectory(Path("runs/voc")))
        ['train.max_steps: 0 -> 9']
    """
    try:
        saved = load_recipe(directory.recipe)
    except RecipeError as error:
        raise RecipeChangedError(
            f"{error}; cannot tell which recipe the run's checkpoints were trained "
            "with: restore the file or choose another `workdir`"
        ) from None
    old, new = _flatten(recipe_to_dict(saved)), _flatten(recipe_to_dict(recipe))
    differing = sorted(
        key for key in old.keys() | new.keys() if old.get(key) != new.get(key)
    )
    changes = [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in differing]
    refused = [
        change
        for key, change in zip(differing, changes, strict=True)
        if not _may_change(key)
    ]
    if refused:
        raise RecipeChangedError(
            f"{directory.recipe}: the run was trained with another recipe, and "
            f"these keys may not change on resume: {'; '.join(refused)}; use the "
            "run's recipe or choose another `workdir`"
        )
    return changes
