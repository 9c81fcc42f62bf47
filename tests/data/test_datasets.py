"""The table of dataset facts, checked against the sources it stands in for."""

from pathlib import Path

import pytest
from cityscapesscripts.helpers.labels import labels as cityscapes_labels

from tests.helpers import shards_overrides
from tfdeeplab.catalog.datasets import DATASETS, UnknownDatasetError, dataset_descriptor
from tfdeeplab.config import load_recipe
from tfdeeplab.shard_format import dataset_of

RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml"))


def test_voc_facts():
    voc = dataset_descriptor("voc")
    assert voc.num_classes == len(voc.class_names) == 21
    assert (voc.class_names[0], voc.class_names[15], voc.class_names[20]) == (
        "background",
        "person",
        "tvmonitor",
    )
    # SPEC §5: 10,582 train_aug and 1,449 val images.
    assert voc.splits["train_aug"] == 10582 and voc.splits[voc.eval_split] == 1449
    assert voc.palette()[15].tolist() == [192, 128, 128]  # VOC's person colour
    assert voc.palette()[255].tolist() == [224, 224, 192]  # void


def test_cityscapes_facts_are_the_official_table():
    cityscapes = dataset_descriptor("cityscapes")
    official = {c.trainId: c for c in cityscapes_labels if 0 <= c.trainId < 255}
    assert cityscapes.num_classes == len(official) == 19
    assert cityscapes.class_names == tuple(official[i].name for i in range(19))
    palette = cityscapes.palette()
    assert [tuple(palette[i]) for i in range(19)] == [
        official[i].color for i in range(19)
    ]
    assert cityscapes.splits == {
        "train": 2975,
        "val": 500,
        "test": 1525,
        "train_extra": 19998,
    }


def test_unknown_names_are_an_error_listing_the_known_ones():
    with pytest.raises(
        UnknownDatasetError,
        match=r"unknown dataset 'coco' \(known "
        r"datasets: cityscapes, voc\)",
    ):
        dataset_descriptor("coco")


def test_class_names_past_the_dataset_and_converter_commands():
    voc = DATASETS["voc"]
    assert voc.class_name(20) == "tvmonitor" and voc.class_name(21) == "class_21"
    assert voc.converter("data/x").endswith("--out data/x")
    assert voc.converter("data/x").startswith("python -m tfrecords_tools.voc")


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_recipes_agree_with_their_dataset(path, folder_shards):
    recipe = load_recipe(path, shards_overrides(path, folder_shards))
    descriptor = dataset_of(recipe.data.dataset, recipe.data.root)
    assert recipe.model.num_classes == descriptor.num_classes
    assert recipe.data.ignore_label == descriptor.ignore_label
    assert recipe.data.eval_split in descriptor.splits
    if recipe.name != "demo":  # the demo trains on its own small synthetic split
        assert recipe.data.train_split == descriptor.train_split
        assert (
            recipe.data.num_train_images == descriptor.splits[recipe.data.train_split]
        )


def test_the_converters_write_the_splits_the_table_names(tmp_path):
    from tfdeeplab.synthetic_datasets import write_cityscapes_tree
    from tfrecords_tools.cityscapes import cityscapes_splits

    counts = {"train": 1, "val": 1, "test": 1, "train_extra": 1}
    root = write_cityscapes_tree(tmp_path, counts, size=(8, 16))
    splits, _ = cityscapes_splits(root, coarse=True)
    assert set(splits) == set(DATASETS["cityscapes"].splits)
    from tfdeeplab.synthetic_datasets import write_sbd_tree, write_voc_tree
    from tfrecords_tools.voc import voc_splits

    voc_root = write_voc_tree(tmp_path, ["2007_000001"], ["2007_000002"], size=(8, 8))
    sbd_root = write_sbd_tree(tmp_path, ["2007_000003"], [], size=(8, 8))
    splits, _ = voc_splits(voc_root, sbd_root)
    assert set(splits) == set(DATASETS["voc"].splits)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_descriptor_is_a_value_that_travels_through_json(name):
    import json

    from tfdeeplab.catalog.datasets import DatasetDescriptor

    descriptor = DATASETS[name]
    record = json.loads(json.dumps(descriptor.to_json()))
    assert DatasetDescriptor.from_json(record, "manifest.json") == descriptor


@pytest.mark.parametrize(
    "change, key",
    [
        ({"class_names": "background"}, "class_names"),
        ({"colours": [[0, 0, 0]] * 255}, "colours"),
        ({"ignore_label": 256}, "ignore_label"),
        ({"splits": {"train": "many"}}, "splits"),
        ({"name": None}, "name"),
    ],
)
def test_a_descriptor_file_that_is_not_one_names_the_key(change, key):
    from tfdeeplab.catalog.datasets import DatasetDescriptor, DescriptorError

    record = {**DATASETS["voc"].to_json(), **change}
    with pytest.raises(DescriptorError) as raised:
        DatasetDescriptor.from_json(record, "data/x/manifest.json")
    assert str(raised.value).startswith(f"data/x/manifest.json: {key}: expected")
    with pytest.raises(DescriptorError, match="dataset: expected a JSON object"):
        DatasetDescriptor.from_json([1, 2], "data/x/manifest.json")


def test_cityscapes_predictions_are_submitted_as_label_ids():
    from cityscapesscripts.helpers.labels import trainId2label

    submission = DATASETS["cityscapes"].submission
    values = submission.values()
    assert [values[i] for i in range(19)] == [trainId2label[i].id for i in range(19)]
    assert submission.file_name.format(id="x") == "x_leftImg8bit.png"
    assert DATASETS["voc"].submission.palette
