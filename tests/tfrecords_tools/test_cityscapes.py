"""Cityscapes converter: official train ids, PNG bytes kept, test/coarse splits."""

import json

import numpy as np
import pytest
import tensorflow as tf
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from tfdeeplab.synthetic_datasets import write_cityscapes_tree
from tfrecords_tools import cityscapes

SPLITS = {"train": 4, "val": 2, "test": 2, "train_extra": 2}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_cityscapes_tree(
        tmp_path_factory.mktemp("cityscapes"), SPLITS, size=(32, 64)
    )


def records(out, split):
    examples = []
    for path in sorted(out.glob(f"{split}-*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            examples.append(tf.train.Example.FromString(record).features.feature)
    return examples


def test_fine_splits_and_train_ids(root, tmp_path):
    out = tmp_path / "out"
    assert (
        cityscapes.main(
            ["--root", str(root), "--out", str(out), "--workers", "1", "--quiet"]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v["num_images"] for k, v in manifest["splits"].items()} == {
        "train": 4,
        "val": 2,
        "test": 2,
    }
    assert len(manifest["splits"]["train"]["class_pixels"]) == 19

    for feature in records(out, "train"):
        name = feature["image/filename"].bytes_list.value[0].decode()
        city = name.split("_")[0]
        image_path = root / "leftImg8bit" / "train" / city / f"{name}_leftImg8bit.png"
        assert feature["image/encoded"].bytes_list.value[0] == image_path.read_bytes()
        assert feature["image/format"].bytes_list.value[0] == b"png"
        ids = np.array(
            Image.open(root / "gtFine" / "train" / city / f"{name}_gtFine_labelIds.png")
        )
        train_ids = tf.io.decode_png(
            feature["image/segmentation/class/encoded"].bytes_list.value[0]
        )[..., 0].numpy()
        expected = np.vectorize(
            lambda i: (
                id2label[i].trainId if id2label[i].trainId not in (-1, 255) else 255
            )
        )(ids)
        np.testing.assert_array_equal(train_ids, expected)
        assert 255 in train_ids and train_ids[train_ids != 255].max() <= 18

    for feature in records(out, "test"):
        assert "image/segmentation/class/encoded" not in feature


def test_coarse_adds_train_extra(root, tmp_path):
    out = tmp_path / "out"
    args = [
        "--root",
        str(root),
        "--out",
        str(out),
        "--workers",
        "1",
        "--quiet",
        "--coarse",
        "--splits",
        "train_extra",
    ]
    assert cityscapes.main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train_extra"]["num_images"] == 2
    assert "gtCoarse" in manifest["splits"]["train_extra"]["source"]
    assert len(records(out, "train_extra")) == 2


def test_unknown_label_ids_and_missing_labels_are_reported(root, tmp_path, capsys):
    broken = tmp_path / "broken"
    write_cityscapes_tree(broken, {"train": 2, "val": 1}, size=(16, 32))
    labels = sorted((broken / "gtFine" / "train").glob("*/*_labelIds.png"))
    values = np.array(Image.open(labels[0]))
    values[0, 0] = 40
    Image.fromarray(values).save(labels[0])
    labels[1].unlink()
    out = tmp_path / "out"
    args = ["--root", str(broken), "--out", str(out), "--workers", "1", "--quiet"]
    assert cityscapes.main(args) == 2  # no test/ images in this tree: said, not guessed
    assert (
        f"{broken / 'leftImg8bit' / 'test'}: no */*_leftImg8bit.png images found"
        in capsys.readouterr().err
    )
    assert cityscapes.main([*args, "--splits", "train", "val"]) == 1
    err = capsys.readouterr().err
    assert f"{labels[0]}: label ids that are no Cityscapes label: [40]" in err
    assert f"{labels[1]}: label file missing" in err


def test_missing_root(tmp_path, capsys):
    assert cityscapes.main(["--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no leftImg8bit/ directory" in capsys.readouterr().err
