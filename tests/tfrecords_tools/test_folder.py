"""Your own data: folders of images and masks in every mask format, converted by
`python -m tfrecords_tools.folder`, read back equal, with the dataset's descriptor in
the manifest; bad folders listed by file; a recipe that needs only `data.root`."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers import labels_in
from tfdeeplab import shard_format
from tfdeeplab.config import RecipeError, load_recipe
from tfdeeplab.synthetic_datasets import FOLDER_COLOURS, write_folder_tree
from tfrecords_tools import folder

STEMS = [f"{i:04d}" for i in range(10)]
CSV = "name,r,g,b\n" + "\n".join(
    f"class{i},{r},{g},{b}" for i, (r, g, b) in enumerate(FOLDER_COLOURS)
)


def convert(images, masks, out, *more):
    args = ["--images", str(images), "--masks", str(masks), "--out", str(out)]
    return folder.main([*args, "--quiet", "--workers", "1", *more])


@pytest.mark.parametrize("mask_format", ["ids", "ids16", "palette", "rgb"])
def test_every_mask_format_reads_back_as_its_masks(tmp_path, mask_format, capsys):
    suffix = "_L" if mask_format == "rgb" else ""
    images, masks, labels = write_folder_tree(
        tmp_path, STEMS, mask_format=mask_format, mask_suffix=suffix
    )
    more = ["--val-fraction", "0.2", "--seed", "3", "--name", "mine"]
    if mask_format == "rgb":
        (tmp_path / "class_dict.csv").write_text(CSV)
        more += ["--classes", str(tmp_path / "class_dict.csv"), "--mask-suffix", "_L"]
    assert convert(images, masks, tmp_path / "out", *more) == 0
    out = tmp_path / "out"
    found = {**labels_in(out, "train"), **labels_in(out, "val")}
    assert sorted(found) == STEMS
    for stem in STEMS:
        np.testing.assert_array_equal(found[stem], labels[stem])
    descriptor = shard_format.descriptor_held(out)
    assert descriptor.name == "mine" and descriptor.num_classes == 5
    assert dict(descriptor.splits) == {"train": 8, "val": 2}
    assert (descriptor.train_split, descriptor.eval_split) == ("train", "val")
    if mask_format == "rgb":
        assert descriptor.class_names[1] == "class1"
        assert descriptor.palette()[2].tolist() == list(FOLDER_COLOURS[2])
    else:
        assert descriptor.class_names == tuple(f"class_{i}" for i in range(5))
    manifest = shard_format.read_manifest(out)
    images_seen = np.add(
        manifest["splits"]["train"]["class_images"],
        manifest["splits"]["val"]["class_images"],
    )
    expected = [
        sum(1 for label in labels.values() if (label == c).any()) for c in range(5)
    ]
    assert images_seen.tolist() == expected


def test_the_random_split_is_seeded(tmp_path):
    images, masks, _ = write_folder_tree(tmp_path, STEMS)
    for out in ("a", "b"):
        assert convert(images, masks, tmp_path / out, "--val-fraction", "0.3") == 0
    assert sorted(labels_in(tmp_path / "a", "val")) == sorted(
        labels_in(tmp_path / "b", "val")
    )
    assert len(labels_in(tmp_path / "a", "val")) == 3


def test_split_lists_and_first_level_folders(tmp_path):
    images, masks, _ = write_folder_tree(tmp_path / "flat", STEMS)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.txt").write_text("\n".join(STEMS[:6]) + "\n")
    (lists / "test.txt").write_text("\n".join(STEMS[6:]) + "\n")
    assert convert(images, masks, tmp_path / "listed", "--split-lists", str(lists)) == 0
    descriptor = shard_format.descriptor_held(tmp_path / "listed")
    assert dict(descriptor.splits) == {"test": 4, "train": 6}
    assert descriptor.eval_split == "train"  # no val split: the training one

    stems = [f"training/{s}" for s in STEMS[:7]] + [
        f"validation/{s}" for s in STEMS[7:]
    ]
    images, masks, _ = write_folder_tree(tmp_path / "ade", stems)
    assert convert(images, masks, tmp_path / "ade_out") == 0
    descriptor = shard_format.descriptor_held(tmp_path / "ade_out")
    assert dict(descriptor.splits) == {"training": 7, "validation": 3}
    assert (descriptor.train_split, descriptor.eval_split) == ("training", "validation")


def test_splits_from_separate_calls_share_one_manifest(tmp_path):
    train = write_folder_tree(tmp_path / "train", STEMS[:6])
    val = write_folder_tree(tmp_path / "val", STEMS[6:])
    classes = tmp_path / "classes.txt"
    classes.write_text("sky\nroad\ncar\nsign\ntree\n")
    out = tmp_path / "out"
    for (images, masks, _), split in ((train, "train"), (val, "val")):
        assert (
            convert(images, masks, out, "--split", split, "--classes", str(classes))
            == 0
        )
    descriptor = shard_format.descriptor_held(out)
    assert dict(descriptor.splits) == {"train": 6, "val": 4}
    assert descriptor.class_names == ("sky", "road", "car", "sign", "tree")


def test_reduce_zero_label_makes_zero_the_ignore_label(tmp_path):
    images, masks, labels = write_folder_tree(tmp_path, STEMS[:3], num_classes=4)
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\nc\n")
    more = ["--split", "train", "--classes", str(classes), "--reduce-zero-label"]
    assert convert(images, masks, tmp_path / "out", *more) == 0
    found = labels_in(tmp_path / "out", "train")
    for stem in STEMS[:3]:
        expected = labels[stem].astype(np.int64) - 1
        expected[labels[stem] == 0] = 255
        np.testing.assert_array_equal(found[stem], expected)


def problems_of(capsys) -> list[str]:
    err = capsys.readouterr().err
    return [line.strip() for line in err.splitlines() if line.startswith("  ")]


def test_bad_folders_are_listed_by_file_and_nothing_is_written(tmp_path, capsys):
    images, masks, _ = write_folder_tree(tmp_path, STEMS[:5], mask_format="rgb")
    (tmp_path / "class_dict.csv").write_text(CSV.rsplit("\n", 1)[0])  # no class 4
    (masks / "0000.png").unlink()  # an image without its mask
    Image.new("RGB", (10, 10)).save(masks / "0001.png")  # another size
    Image.new("RGB", (64, 48)).save(masks / "9999.png")  # a mask without its image
    more = ["--split", "train", "--classes", str(tmp_path / "class_dict.csv")]
    assert convert(images, masks, tmp_path / "out", *more) == 1
    problems = problems_of(capsys)
    assert any("0000.png: label file missing" in p for p in problems)
    assert any(
        "0001.png: label size 10x10 differs from image size 64x48" in p
        for p in problems
    )
    assert any("9999.jpg: image file missing" in p for p in problems)
    unknown = [p for p in problems if "colours not in the classes file" in p]
    assert unknown and all("(0, 0, 128)" in p and " px" in p for p in unknown)
    assert not list((tmp_path / "out").glob("*.tfrecord"))


def test_ids_past_the_classes_are_listed(tmp_path, capsys):
    images, masks, _ = write_folder_tree(tmp_path, STEMS[:3], num_classes=5)
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\nc\n")
    more = ["--split", "train", "--classes", str(classes)]
    assert convert(images, masks, tmp_path / "out", *more) == 1
    problems = problems_of(capsys)
    assert problems and all("label values outside 0..2 and 255" in p for p in problems)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("c.csv", "label,r,g,b\nx,0,0,0\n", "line 1: expected the header name,r,g,b"),
        ("c.csv", "name,r,g,b\nx,0,0,300\n", "line 2: expected a colour r, g, b"),
        ("c.json", '{"names": "x"}', "names: expected a list of class names"),
        ("c.json", '{"names": ["a"], "colours": [[0,0,0],[1,1,1]]}', "one per class"),
        ("c.txt", "\n\n", "expected one class name a line"),
    ],
)
def test_a_bad_classes_file_is_one_line(tmp_path, capsys, name, text, message):
    images, masks, _ = write_folder_tree(tmp_path, STEMS[:2])
    (tmp_path / name).write_text(text)
    more = ["--split", "train", "--classes", str(tmp_path / name)]
    assert convert(images, masks, tmp_path / "out", *more) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and name in err


def test_two_images_with_one_stem_and_no_split_are_refused(tmp_path, capsys):
    images, masks, _ = write_folder_tree(tmp_path, ["a/0001", "b/0001"])
    assert convert(images, masks, tmp_path / "out", "--split", "train") == 2
    assert "two files with one stem" in capsys.readouterr().err
    images, masks, _ = write_folder_tree(tmp_path / "flat", STEMS[:2])
    assert convert(images, masks, tmp_path / "out2") == 2
    assert "no split given: pass --split NAME" in capsys.readouterr().err


def test_the_report_lists_each_class_and_those_never_seen(tmp_path, capsys):
    images, masks, _ = write_folder_tree(tmp_path, STEMS[:4], num_classes=3)
    classes = tmp_path / "classes.txt"
    classes.write_text("bg\nthing\nstuff\nunseen\n")
    more = ["--split", "train", "--classes", str(classes), "--report"]
    assert convert(images, masks, tmp_path / "out", *more) == 0
    out = capsys.readouterr().out
    assert "unseen" in out and "never appear: unseen" in out
    assert "% of pixels, in 4 images" in out  # the background is in every image


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    images, masks, _ = write_folder_tree(root, [f"{i:04d}" for i in range(12)])
    classes = root / "classes.txt"
    classes.write_text("background\nred\ngreen\nolive\nnavy\n")
    out = root / "shards"
    more = ["--classes", str(classes), "--val-fraction", "0.25", "--name", "mine"]
    assert convert(images, masks, out, *more) == 0
    return out


def test_a_recipe_for_converted_shards_needs_only_the_root(converted):
    recipe = load_recipe("custom", [f"data.root={converted}"])
    assert recipe.data.dataset == "mine" and recipe.model.num_classes == 5
    assert (recipe.data.train_split, recipe.data.eval_split) == ("train", "val")
    assert recipe.data.num_train_images == 9 and recipe.data.ignore_label == 255
    stated = load_recipe("custom", [f"data.root={converted}", "data.dataset=mine"])
    assert stated.model.num_classes == 5


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.num_classes=21", "model.num_classes: expected 5, the mine dataset's"),
        ("data.dataset=other", "the shards in .* hold the dataset 'mine'"),
    ],
)
def test_a_recipe_that_disagrees_with_its_shards_is_one_line(
    converted, override, message
):
    with pytest.raises(RecipeError, match=message) as raised:
        load_recipe("custom", [f"data.root={converted}", override])
    assert "\n" not in str(raised.value)


def test_from_shards_without_shards_says_how_to_convert(tmp_path):
    with pytest.raises(RecipeError, match="python -m tfrecords_tools.folder"):
        load_recipe("custom", [f"data.root={tmp_path}"])


def test_the_manifest_descriptor_is_recorded_for_the_built_in_datasets(demo_shards):
    descriptor = shard_format.descriptor_held(demo_shards)
    assert descriptor.name == "voc" and descriptor.class_names[15] == "person"
    manifest = json.loads((demo_shards / shard_format.MANIFEST).read_text())
    assert manifest["splits"]["train_aug"]["class_images"][0] > 0
