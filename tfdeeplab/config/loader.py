"""Load a recipe: YAML file, its `base:` chain, `--set` overrides, then the schema.

Every problem is a `RecipeError` whose message is one line naming the recipe file, the
key path and what was expected, raised before any heavy work starts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from tfdeeplab.atomic_files import write_text
from tfdeeplab.catalog.datasets import DescriptorError, UnknownDatasetError
from tfdeeplab.config.schema import Recipe, SchemaError, with_dataset_facts
from tfdeeplab.config.shipped_recipes import shipped_recipe
from tfdeeplab.config.typed import from_dict, to_dict
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.shard_format import ManifestError, dataset_of
from tfdeeplab.version import version_line


class RecipeError(TfdeeplabError, ValueError):
    """A recipe that cannot be used; the message names file, key and expectation."""


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key that a mapping holds twice (YAML would
    keep the last silently, dropping a whole `train:` section written twice)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=UniqueKeyLoader)  # a SafeLoader
    except UnicodeDecodeError as error:
        raise RecipeError(
            f"{path}: not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RecipeError(f"{path}: {where}invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: expected a mapping at the top, got {type(data).__name__}"
        )
    return data


def _merge(base: dict, child: dict) -> dict:
    """Deep-merge `child` onto `base`: mappings merge by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _leaf_keys(data: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys += _leaf_keys(value, dotted + ".") if isinstance(value, dict) else [dotted]
    return keys


def _resolve_bases(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict]:
    """The merged data of `path` and its `base:` chain, and for every dotted leaf
    key the file that set it last."""
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise RecipeError(
            f"{path}: base: recipes extend each other in a cycle ({chain})"
        )
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    origins = dict.fromkeys(_leaf_keys(data), path)
    if base_name is None:
        return data, origins
    if not isinstance(base_name, str) or not base_name:
        raise RecipeError(
            f"{path}: base: expected a recipe file name, got {base_name!r}"
        )
    base_path = path.parent / base_name
    if not base_path.is_file() or base_path.resolve() == resolved:
        # A recipe never extends itself: `base: voc.yaml` in an edited voc.yaml
        # is the shipped voc recipe.
        base_path = shipped_recipe(base_name)
    if base_path is None:
        raise RecipeError(
            f"{path}: base: recipe file not found: {path.parent / base_name}"
            " (nor a shipped recipe of that name)"
        )
    base_data, base_origins = _resolve_bases(base_path, (*seen, resolved))
    return _merge(base_data, data), {**base_origins, **origins}


def _origin(key: str, origins: dict, default: Path) -> Path:
    """The file that set `key` (or the section holding it); `default` if none did."""
    parts = key.split("[", 1)[0].split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in origins:
            return origins[".".join(parts[:end])]
    return default


def parse_override(text: str) -> tuple[list[str], object]:
    """Split a `key.path=value` override; the value is read as YAML.

    Args:
        text: str. For example `"model.output_stride=8"` or `"eval.scales=[1.0]"`.

    Returns:
        (key path as a list of names, parsed value).

    Raises:
        RecipeError: when there is no `=` or the key is empty.

    Example:
        >>> parse_override("train.batch_size=2")
        (['train', 'batch_size'], 2)
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise RecipeError(f"--set {text!r}: the value is not valid YAML") from None
    return key.split("."), value


def _apply_override(data: dict, keys: list[str], value: object, text: str) -> None:
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise RecipeError(f"--set {text!r}: {where} is a value, not a section")
        node = child
    node[keys[-1]] = value


def find_recipe(recipe: str | os.PathLike) -> Path:
    """The file a recipe argument means: a path that exists, else a shipped recipe.

    Args:
        recipe: str or PathLike. A path to a YAML file, or the name of a shipped
            recipe (`voc_scale16` or `voc_scale16.yaml`, see
            `config.shipped_recipes`). A path that exists wins over a name.

    Returns:
        The recipe file's path.

    Raises:
        RecipeError: when it is neither, naming it and how to list the shipped ones.

    Example:
        >>> find_recipe("voc_scale16").name
        'voc_scale16.yaml'
    """
    path = Path(recipe).expanduser()
    if path.is_file():
        return path
    shipped = shipped_recipe(str(recipe))
    if shipped is not None:
        return shipped
    raise RecipeError(
        f"{recipe}: recipe file not found, nor a shipped recipe of that name"
        " (python -m tfdeeplab.describe --list shows them)"
    )


def load_recipe(recipe: str | os.PathLike, overrides: Iterable[str] = ()) -> Recipe:
    """Load, merge, override and validate a recipe.

    Args:
        recipe: str or PathLike. The recipe YAML file, or a shipped recipe's name
            (`find_recipe`). A `base: other.yaml` key names the recipe it extends:
            the file beside this one, else the shipped recipe of that name.
        overrides: iterable of str. `key.path=value` strings, as `--set` takes them,
            applied after the base chain.

    Returns:
        The frozen `Recipe`. Its `name` defaults to the file's stem; the facts of
        its dataset it leaves out (class count, ignore label, splits, image
        count) are the dataset's (`schema.with_dataset_facts`).

    Raises:
        RecipeError: one line naming the file, the key path and what was expected.

    Example:
        >>> recipe = load_recipe("voc", ["model.output_stride=8"])
        >>> recipe.model.output_stride
        8
    """
    path = find_recipe(recipe)
    data, origins = _resolve_bases(path)
    for text in overrides:
        keys, value = parse_override(text)
        _apply_override(data, keys, value, text)
        origins[".".join(keys)] = path  # `--set` errors name the recipe given
    data.setdefault("name", path.stem)
    try:
        recipe = from_dict(Recipe, data)
        return with_dataset_facts(recipe, _dataset(recipe))
    except SchemaError as error:
        where = _origin(error.key, origins, path)
        raise RecipeError(f"{where}: {error.key}: {error.message}") from None


def _dataset(recipe: Recipe):
    """The recipe's dataset descriptor (the table's, or its shards'); a recipe for
    shards names their dataset from here on."""
    try:
        return dataset_of(recipe.data.dataset, recipe.data.root)
    except (UnknownDatasetError, DescriptorError, ManifestError) as error:
        raise SchemaError("data.dataset", str(error)) from None


def recipe_to_dict(recipe: Recipe) -> dict:
    """The fully resolved recipe as plain data (no `base:`), ready for YAML."""
    return to_dict(recipe)


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> None:
    """Write the fully resolved recipe; `load_recipe` on the file gives it back.

    Its header comment names the recipe and the code that wrote it
    (`version.version_line`).

    Args:
        recipe: Recipe. The recipe to write.
        path: str or PathLike. Destination YAML file, written whole or not at
            all; its directory must exist.
    """
    header = f"# The resolved recipe {recipe.name}, written by {version_line()}.\n"
    write_text(path, header + yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False))
