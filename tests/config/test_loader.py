"""Recipe loading: YAML, base chains, overrides, and one clear line per bad input."""

import textwrap

import pytest

from tfdeeplab.config import (
    ModelConfig,
    RecipeError,
    load_recipe,
    parse_override,
    recipe_to_dict,
    save_recipe,
)


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def base_recipe(tmp_path):
    return write(
        tmp_path / "base.yaml",
        """
        description: base
        model:
          output_stride: 16
          atrous_rates: [6, 12]
        train:
          batch_size: 10
          weight_decay: 5e-4
        """,
    )


def test_defaults_and_name_from_file(base_recipe):
    recipe = load_recipe(base_recipe)
    assert recipe.name == "base"
    assert recipe.model.depth == 101
    assert recipe.model.atrous_rates == (6, 12)
    # YAML 1.1 reads 5e-4 as a string; the loader accepts it as the float it means.
    assert recipe.train.weight_decay == pytest.approx(5e-4)
    assert recipe.data.crop_size == (321, 321)


def test_base_chain_merges_sections_and_replaces_lists(tmp_path, base_recipe):
    child = write(
        tmp_path / "child.yaml",
        """
        base: base.yaml
        model:
          atrous_rates: [3]
          head: aspp_v2
        """,
    )
    grandchild = write(
        tmp_path / "grandchild.yaml", "base: child.yaml\ntrain: {batch_size: 2}\n"
    )
    recipe = load_recipe(grandchild)
    assert recipe.name == "grandchild"
    assert recipe.description == "base"
    assert recipe.model.output_stride == 16  # from base
    assert recipe.model.atrous_rates == (3,)  # list replaced, not appended
    assert recipe.model.head == "aspp_v2"
    assert recipe.train.batch_size == 2
    assert load_recipe(child).train.batch_size == 10


def test_overrides_set_nested_keys(base_recipe):
    recipe = load_recipe(
        base_recipe,
        [
            "model.output_stride=8",
            "train.batch_size=2",
            "eval.scales=[1.0]",
            "eval.crf.enabled=true",
        ],
    )
    assert recipe.model.output_stride == 8
    assert recipe.train.batch_size == 2
    assert recipe.eval.scales == (1.0,)
    assert recipe.eval.crf.enabled is True


def test_parse_override():
    assert parse_override("train.schedule.steps=[[1, 0.1]]") == (
        ["train", "schedule", "steps"],
        [[1, 0.1]],
    )
    with pytest.raises(RecipeError, match="expected key.path=value"):
        parse_override("train.batch_size")
    with pytest.raises(RecipeError, match="expected key.path=value"):
        parse_override("train..batch_size=1")


def test_resolved_recipe_round_trips(tmp_path, base_recipe):
    recipe = load_recipe(
        base_recipe,
        [
            "model.msc_scales=[1.0, 0.5]",
            "train.schedule.family=tf_style",
            "train.end_epoch=7",
        ],
    )
    saved = tmp_path / "out" / "recipe.yaml"
    saved.parent.mkdir()
    save_recipe(recipe, saved)
    assert "base:" not in saved.read_text()
    reloaded = load_recipe(saved)
    assert reloaded == recipe
    assert recipe_to_dict(reloaded)["model"]["msc_scales"] == [1.0, 0.5]


@pytest.mark.parametrize(
    "overrides, message",
    [
        # unknown keys, at every depth
        (["modle.depth=50"], r"modle: unknown key"),
        (["model.foo=1"], r"model\.foo: unknown key"),
        (["train.schedule.kind=poly"], r"train\.schedule\.kind: unknown key"),
        # wrong types
        (["train.batch_size=two"], r"train\.batch_size: expected int, got 'two'"),
        (["train.batch_size=2.5"], r"train\.batch_size: expected int"),
        (["train.jit_compile=1"], r"train\.jit_compile: expected bool"),
        (["data.crop_size=321"], r"data\.crop_size: expected a list"),
        (["model=3"], r"model: expected a mapping"),
        # impossible values
        (
            ["model.output_stride=12"],
            r"model\.output_stride: expected one of 8, 16, 32, got 12",
        ),
        (["data.crop_size=[0, 321]"], r"data\.crop_size: expected a value >= 1, got 0"),
        (["data.crop_size=[321]"], r"data\.crop_size: expected 2 values"),
        (
            ["train.schedule.steps=[[5, 1e-3], [4, 1e-4]]"],
            r"train\.schedule\.steps: expected strictly increasing",
        ),
        (
            ["train.schedule.steps=[[5, 1e-3, 2]]"],
            r"train\.schedule\.steps\[0\]: expected 2 values",
        ),
        (["train.schedule.steps=[]"], r"train\.schedule\.steps: expected at least one"),
        (
            ["train.end_epoch=9"],
            r"train\.end_epoch: expected at most the schedule's last epoch 8.0",
        ),
        (
            ["train.schedule.type=poly"],
            r"train\.end_epoch: expected a positive end epoch when max_steps is 0",
        ),
        (
            ["model.batch_norm=group"],
            r"model\.batch_norm: expected one of 'frozen', 'train', 'sync'",
        ),
        (["model.frozen_stages=[res6]"], r"model\.frozen_stages: expected one of"),
        (
            ["model.deformable_units=[res5d]"],
            r"model\.deformable_units: expected unit names of ResNet-101",
        ),
        (
            ["model.msc_scales=[0.5, 1.0]"],
            r"model\.msc_scales: expected the first scale to be 1.0",
        ),
        (
            ["model.units_per_stage=[1, 1]"],
            r"model\.units_per_stage: expected 4 counts",
        ),
        (
            ["data.scale_range=[1.5, 0.7]"],
            r"data\.scale_range: expected 0 < low <= high",
        ),
        (
            ["eval.tile_stride_fraction=1.5"],
            r"eval\.tile_stride_fraction: expected a fraction",
        ),
        (
            ["train.schedule.family=keras_style"],
            r"train\.schedule\.family: expected one of",
        ),
    ],
)
def test_bad_values_fail_with_file_and_key(base_recipe, overrides, message):
    with pytest.raises(RecipeError, match=message) as info:
        load_recipe(base_recipe, overrides)
    text = str(info.value)
    assert text.startswith(str(base_recipe) + ": ")
    assert "\n" not in text


def test_bad_key_in_file_names_the_file(tmp_path):
    path = write(tmp_path / "typo.yaml", "train:\n  batchsize: 4\n")
    with pytest.raises(
        RecipeError,
        match=r"typo\.yaml: train\.batchsize: unknown key \(known keys: batch_size",
    ):
        load_recipe(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match=r"nope\.yaml: recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_invalid_yaml_names_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "model:\n  depth: [101\n")
    with pytest.raises(
        RecipeError, match=r"broken\.yaml: line \d+, column \d+: invalid YAML"
    ):
        load_recipe(path)


def test_top_level_must_be_mapping(tmp_path):
    path = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(
        RecipeError, match=r"list\.yaml: expected a mapping at the top, got list"
    ):
        load_recipe(path)


def test_missing_base(tmp_path):
    path = write(tmp_path / "child.yaml", "base: missing.yaml\n")
    with pytest.raises(
        RecipeError, match=r"child\.yaml: base: recipe file not found: .*missing\.yaml"
    ):
        load_recipe(path)


def test_base_cycle(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(
        RecipeError, match=r"base: recipes extend each other in a cycle"
    ):
        load_recipe(tmp_path / "a.yaml")


def test_override_through_a_value(base_recipe):
    with pytest.raises(
        RecipeError, match=r"train\.batch_size is a value, not a section"
    ):
        load_recipe(base_recipe, ["train.batch_size.x=1"])


def test_configs_are_frozen():
    config = ModelConfig()
    with pytest.raises(AttributeError):
        config.depth = 50


@pytest.mark.parametrize(
    "override, key",
    [
        ("train.momentum=.nan", "train.momentum"),
        ("train.weight_decay=.inf", "train.weight_decay"),
        ("train.schedule.steps=[[5, .nan], [8, 1.0e-4]]", "train.schedule.steps"),
        ("data.mean=[104, -.inf, 122]", "data.mean"),
    ],
)
def test_nan_and_inf_are_refused(base_recipe, override, key):
    with pytest.raises(RecipeError, match=rf"{key}.*: expected a finite number"):
        load_recipe(base_recipe, [override])


@pytest.mark.parametrize(
    "overrides, minimum",
    [
        (["data.crop_size=[1, 1]"], 3),
        (["data.crop_size=[2, 321]"], 3),
        (["model.msc_scales=[1.0, 0.5]", "data.crop_size=[4, 4]"], 5),
    ],
)
def test_a_crop_too_small_for_the_stem_is_refused(base_recipe, overrides, minimum):
    with pytest.raises(
        RecipeError, match=rf"data\.crop_size: expected at least {minimum} pixels"
    ):
        load_recipe(base_recipe, overrides)
    assert load_recipe(base_recipe, ["data.crop_size=[3, 3]"])  # the smallest: fine
    # DeepLab v2's pool padding 1 pools even a single pixel.
    assert load_recipe(
        base_recipe, ["model.stem_pool_padding=1", "data.crop_size=[1, 1]"]
    )


def test_a_recipe_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RecipeError, match=r"latin1\.yaml: not UTF-8 text \(byte 16"):
        load_recipe(path)


def test_an_error_in_a_base_names_the_base_file(tmp_path):
    write(tmp_path / "parent.yaml", "model:\n  output_stride: 12\n")
    child = write(tmp_path / "child.yaml", "base: parent.yaml\ntrain:\n  seed: 1\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(child)
    assert str(raised.value).startswith(
        f"{tmp_path / 'parent.yaml'}: model.output_stride: expected one of"
    )
    write(tmp_path / "parent.yaml", "model:\n  output_stride: 16\n")
    write(tmp_path / "child.yaml", "base: parent.yaml\nmodel:\n  depth: 7\n")
    with pytest.raises(RecipeError, match=r"child\.yaml: model\.depth: expected one"):
        load_recipe(child)
    with pytest.raises(RecipeError, match=r"child\.yaml: model\.output_stride"):
        load_recipe(child, ["model.depth=50", "model.output_stride=4"])


def test_a_section_written_twice_is_refused_naming_the_line(tmp_path):
    text = "train:\n  batch_size: 2\nmodel:\n  depth: 50\ntrain:\n  seed: 3\n"
    recipe = write(tmp_path / "twice.yaml", text)
    with pytest.raises(RecipeError) as raised:
        load_recipe(recipe)
    assert str(raised.value) == (
        f"{recipe}: line 5, column 1: invalid YAML (key 'train' appears twice "
        "(first at line 1))"
    )


def test_the_datasets_facts_are_the_recipes_unless_it_disagrees(tmp_path):
    forgotten = write(tmp_path / "cs.yaml", "data:\n  dataset: cityscapes\n")
    recipe = load_recipe(forgotten)
    assert recipe.model.num_classes == 19 and recipe.data.num_train_images == 2975
    wrong = write(tmp_path / "wrong.yaml", "base: cs.yaml\nmodel:\n  num_classes: 21\n")
    with pytest.raises(RecipeError) as raised:
        load_recipe(wrong)
    assert str(raised.value) == (
        f"{wrong}: model.num_classes: expected 19, the cityscapes dataset's, got 21 "
        "(leave it out to take the dataset's)"
    )
    # A resolved recipe states every fact; it loads back the same.
    save_recipe(recipe, tmp_path / "resolved.yaml")
    assert load_recipe(tmp_path / "resolved.yaml") == recipe
