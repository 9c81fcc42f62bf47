"""The recipes shipped inside the package: `tfdeeplab/recipes/`, the clone's `recipes/`.

A shipped recipe is named by its file's stem (`voc_scale16`) or file name
(`voc_scale16.yaml`); a name never holds a separator, so it only ever means a file
of the shipped folder. What each recipe reproduces is the first paragraph of its own
leading comment, which `python -m tfdeeplab.describe --list` prints and the README's
table is generated from.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

SHIPPED_RECIPES = Path(__file__).resolve().parents[1] / "recipes"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class ShippedRecipe:
    """One shipped recipe: its name, file and what it reproduces (one paragraph)."""

    name: str
    path: Path
    summary: str


def shipped_recipe(name: str) -> Path | None:
    """The shipped recipe file a name means, or None.

    Args:
        name: str. A recipe's stem (`voc_scale16`) or file name (`voc_scale16.yaml`);
            anything with a separator, a wildcard or a leading dot is no name.

    Returns:
        The file's path, or None when no shipped recipe has that name.

    Example:
        >>> shipped_recipe("voc_scale16").name
        'voc_scale16.yaml'
    """
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if not _NAME.fullmatch(stem):
        return None
    path = SHIPPED_RECIPES / f"{stem}.yaml"
    return path if path.is_file() else None


def shipped_recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(
        path.stem
        for path in SHIPPED_RECIPES.glob("*.yaml")
        if _NAME.fullmatch(path.stem)
    )


def header_paragraph(text: str) -> str:
    """The first paragraph of a recipe's leading comment, as one line.

    Args:
        text: str. The recipe file's text.

    Returns:
        The comment lines up to the first empty comment line (`#`) or the first
        line that is not a comment, without their `#`, joined by spaces; "" when
        the file starts with no comment.

    Example:
        >>> header_paragraph("# On 4 GPUs.\\n# Seed: 71.\\n#\\n# More.\\nbase: voc\\n")
        'On 4 GPUs. Seed: 71.'
    """
    words = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        content = line[1:].strip()
        if not content:
            break
        words.append(content)
    return " ".join(words)


def shipped_recipes() -> list[ShippedRecipe]:
    """Every shipped recipe with what it reproduces, sorted by name."""
    recipes = []
    for name in shipped_recipe_names():
        path = SHIPPED_RECIPES / f"{name}.yaml"
        summary = header_paragraph(path.read_text(encoding="utf-8"))
        recipes.append(ShippedRecipe(name, path, summary))
    return recipes


def recipe_table(recipes: list[ShippedRecipe]) -> str:
    """A markdown table of recipes, as the README holds it.

    Example:
        >>> print(recipe_table([ShippedRecipe("voc", Path("voc.yaml"), "The seed.")]))
        | recipe | what it reproduces |
        |---|---|
        | `voc` | The seed. |
    """
    rows = ["| recipe | what it reproduces |", "|---|---|"]
    for recipe in recipes:
        summary = recipe.summary.replace("|", r"\|")
        rows.append(f"| `{recipe.name}` | {summary} |")
    return "\n".join(rows)


def recipe_list(recipes: list[ShippedRecipe], width: int = 88) -> str:
    """The recipes for a terminal: each name, then what it reproduces, wrapped.

    Example:
        >>> print(recipe_list([ShippedRecipe("voc", Path("voc.yaml"), "The seed.")]))
        voc
            The seed.
    """
    blocks = []
    for recipe in recipes:
        summary = textwrap.fill(
            recipe.summary or "(no header comment)",
            width=width,
            initial_indent="    ",
            subsequent_indent="    ",
        )
        blocks.append(f"{recipe.name}\n{summary}")
    return "\n".join(blocks)
