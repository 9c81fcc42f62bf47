"""Recipes by name or by path; the shipped list and the README's table from headers."""

from pathlib import Path

import pytest

from tfdeeplab.config import RecipeError, find_recipe, load_recipe
from tfdeeplab.config.shipped_recipes import (
    SHIPPED_RECIPES,
    ShippedRecipe,
    header_paragraph,
    recipe_list,
    recipe_table,
    shipped_recipe,
    shipped_recipe_names,
    shipped_recipes,
)
from tfdeeplab.describe import main as describe

ROOT = Path(__file__).parents[2]
TABLE_START = "<!-- recipe table: python -m tfdeeplab.describe --list --markdown -->"
TABLE_END = "<!-- end of recipe table -->"


def test_the_clone_s_recipes_folder_is_the_shipped_one():
    assert (ROOT / "recipes").resolve() == SHIPPED_RECIPES
    assert SHIPPED_RECIPES == ROOT / "tfdeeplab" / "recipes"
    names = sorted(path.stem for path in (ROOT / "recipes").glob("*.yaml"))
    assert shipped_recipe_names() == names
    assert {"voc", "voc_scale16", "cityscapes_dcn", "demo"} <= set(names)


@pytest.mark.parametrize("given", ["voc_scale16", "voc_scale16.yaml"])
def test_a_name_with_or_without_yaml_is_the_shipped_file(given, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no recipes/ folder here
    assert find_recipe(given) == SHIPPED_RECIPES / "voc_scale16.yaml"
    assert load_recipe(given).name == "voc_scale16"
    assert load_recipe(given).train.replicas == 4


def test_a_path_that_exists_wins_over_the_name(tmp_path, monkeypatch):
    """A user's edited copy named like a shipped recipe is the one loaded."""
    monkeypatch.chdir(tmp_path)
    Path("voc.yaml").write_text("base: voc.yaml\ntrain:\n  max_steps: 7\n")
    assert find_recipe("voc.yaml") == Path("voc.yaml")
    assert load_recipe("voc.yaml").train.max_steps == 7
    assert load_recipe("voc").train.max_steps != 7  # the name alone: shipped


def test_a_copied_recipe_extends_the_shipped_base_by_name(tmp_path):
    """`base: voc.yaml` beside no voc.yaml is the shipped voc recipe."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: voc_dcn.yaml\ntrain:\n  max_steps: 9\n")
    recipe = load_recipe(mine)
    assert recipe.name == "mine" and recipe.train.max_steps == 9
    assert (
        recipe.model.deformable_units == load_recipe("voc_dcn").model.deformable_units
    )


def test_a_base_beside_the_recipe_wins_over_the_shipped_one(tmp_path):
    (tmp_path / "voc.yaml").write_text("base: voc.yaml\ntrain:\n  max_steps: 3\n")
    (tmp_path / "mine.yaml").write_text("base: voc.yaml\nmodel:\n  depth: 50\n")
    recipe = load_recipe(tmp_path / "mine.yaml")  # mine -> its voc -> shipped voc
    assert (recipe.train.max_steps, recipe.model.depth) == (3, 50)
    assert recipe.data.crop_size == load_recipe("voc").data.crop_size


def test_recipes_that_extend_each_other_are_still_a_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    "given", ["no_such_recipe", "../recipes/voc", "recipes/voc", "voc*", ".voc", ""]
)
def test_anything_else_is_one_line_naming_it(given, tmp_path, monkeypatch):
    """No separators, no wildcards: a name only means a shipped file."""
    monkeypatch.chdir(tmp_path)
    assert shipped_recipe(given) is None
    with pytest.raises(RecipeError) as raised:
        find_recipe(given)
    message = str(raised.value)
    assert message == (
        f"{given}: recipe file not found, nor a shipped recipe of that name"
        " (python -m tfdeeplab.describe --list shows them)"
    )


def test_a_missing_base_names_the_file_and_the_key(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: nothing_like_it.yaml\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(mine)
    assert str(raised.value) == (
        f"{mine}: base: recipe file not found: {tmp_path / 'nothing_like_it.yaml'}"
        " (nor a shipped recipe of that name)"
    )


def test_the_header_paragraph_stops_at_an_empty_comment_or_the_first_key():
    text = "# deeplabv2.pascal: the baseline.\n# Paper 70.7.\n#\n# Commands.\nbase: v\n"
    assert header_paragraph(text) == "deeplabv2.pascal: the baseline. Paper 70.7."
    assert header_paragraph("# One line.\nbase: voc.yaml\n# later\n") == "One line."
    assert header_paragraph("base: voc.yaml\n") == ""


def test_every_shipped_recipe_says_what_it_reproduces():
    recipes = shipped_recipes()
    assert [recipe.name for recipe in recipes] == shipped_recipe_names()
    for recipe in recipes:
        assert len(recipe.summary) > 40, recipe.name
    summaries = {recipe.name: recipe.summary for recipe in recipes}
    assert summaries["voc_scale16"].startswith("deeplabv2.pascal.4gpu.scale16:")
    assert "71.7 mIoU" in summaries["voc_scale16"]


def test_the_table_and_the_list_hold_every_recipe_once():
    recipes = [
        ShippedRecipe("a", Path("a.yaml"), "First | with a bar."),
        ShippedRecipe("b", Path("b.yaml"), "Second. " * 20),
    ]
    table = recipe_table(recipes).splitlines()
    assert table[:2] == ["| recipe | what it reproduces |", "|---|---|"]
    assert table[2] == "| `a` | First \\| with a bar. |"
    listed = recipe_list(recipes, width=40).splitlines()
    assert listed[0] == "a" and listed[1] == "    First | with a bar."
    assert listed[2] == "b" and all(line.startswith("    ") for line in listed[3:])
    assert max(len(line) for line in listed) <= 40


def test_the_readme_table_is_the_generated_one(capsys):
    """The README's table is `describe --list --markdown`'s output, not restated."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert TABLE_START in readme and TABLE_END in readme
    in_readme = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert describe(["--list", "--markdown"]) == 0
    assert in_readme == capsys.readouterr().out.strip()


def test_describe_lists_the_shipped_recipes(capsys):
    assert describe(["--list"]) == 0
    out = capsys.readouterr().out
    for name in shipped_recipe_names():
        assert f"\n{name}\n" in f"\n{out}"
    assert "    deeplabv2.pascal.4gpu.scale16:" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give a recipe, or --list"),
        (["voc", "--markdown"], "--markdown goes with --list"),
        (["voc", "--list"], "--list takes no recipe and no --set"),
    ],
)
def test_describe_s_usage_errors_are_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as raised:
        describe(arguments)
    assert raised.value.code == 2
    assert capsys.readouterr().err == (
        f"error: python -m tfdeeplab.describe: {message}\n"
    )


def test_a_shipped_recipe_for_your_own_shards_still_asks_for_data_root(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError) as raised:
        load_recipe("custom_small")
    message = str(raised.value)
    assert message.startswith(f"{SHIPPED_RECIPES / 'custom.yaml'}: data.dataset: ")
    assert "data/mine has no manifest.json" in message
    assert "--set data.root=DIR" in message
