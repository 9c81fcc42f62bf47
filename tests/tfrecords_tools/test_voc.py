"""VOC 2012 + SBD converter on small trees in the real layouts."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy.io import loadmat

from tfdeeplab.synthetic_datasets import voc_id, write_sbd_tree, write_voc_tree
from tfrecords_tools import voc

SIZE = (48, 64)
IDS = [voc_id(i) for i in range(14)]
VOC_TRAIN, VOC_VAL = IDS[0:4], IDS[4:7]
# SBD overlaps VOC on purpose: its val holds a VOC val id (must be dropped) and its
# train holds VOC train ids (VOC's label must win).
SBD_TRAIN = IDS[2:4] + IDS[7:11]
SBD_VAL = IDS[4:5] + IDS[11:14]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc_trees")
    voc_root = write_voc_tree(
        root, VOC_TRAIN, VOC_VAL, size=SIZE, extra_image_ids=IDS[7:13]
    )
    sbd_root = write_sbd_tree(root, SBD_TRAIN, SBD_VAL, size=SIZE)
    return voc_root, sbd_root


@pytest.fixture(scope="module")
def converted(trees, tmp_path_factory):
    voc_root, sbd_root = trees
    out = tmp_path_factory.mktemp("voc_out")
    args = ["--voc-root", str(voc_root), "--sbd-root", str(sbd_root), "--out", str(out)]
    assert voc.main([*args, "--workers", "1", "--quiet", "--shard-mb", "0.01"]) == 0
    return out


def read_records(out, split):
    files = sorted(out.glob(f"{split}-*-of-*.tfrecord"))
    records = []
    for path in files:
        records += list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    return files, records


def test_split_rule_and_counts(converted):
    manifest = json.loads((converted / "manifest.json").read_text())
    expected_aug = (set(SBD_TRAIN) | set(SBD_VAL) | set(VOC_TRAIN)) - set(VOC_VAL)
    splits = manifest["splits"]
    assert {name: entry["num_images"] for name, entry in splits.items()} == {
        "train": 4,
        "val": 3,
        "trainval": 7,
        "train_aug": len(expected_aug),
    }
    aug = splits["train_aug"]
    assert (aug["sbd_train"], aug["sbd_val"], aug["voc_train"], aug["voc_val"]) == (
        6,
        4,
        4,
        3,
    )
    assert aug["labels_from_voc"] == 2 + 2  # VOC train ids (two of them also in SBD)
    _, records = read_records(converted, "train_aug")
    names = {
        tf.train.Example.FromString(r)
        .features.feature["image/filename"]
        .bytes_list.value[0]
        .decode()
        for r in records
    }
    assert names == expected_aug
    assert IDS[4] not in names  # in SBD val but also VOC val


def test_labels_are_indices_and_voc_wins(converted, trees):
    voc_root, sbd_root = trees
    _, records = read_records(converted, "train_aug")
    by_id = {}
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        name = feature["image/filename"].bytes_list.value[0].decode()
        by_id[name] = tf.io.decode_png(
            feature["image/segmentation/class/encoded"].bytes_list.value[0], channels=1
        )[..., 0].numpy()
    overlap = IDS[2]  # in VOC train and SBD train
    voc_label = np.array(Image.open(voc_root / "SegmentationClass" / f"{overlap}.png"))
    np.testing.assert_array_equal(by_id[overlap], voc_label)
    assert 255 in voc_label  # VOC's void border survives: read as indices, not colours
    sbd_only = IDS[8]
    sbd_label = loadmat(sbd_root / "cls" / f"{sbd_only}.mat")["GTcls"]["Segmentation"][
        0, 0
    ]
    np.testing.assert_array_equal(by_id[sbd_only], sbd_label)


def test_jpeg_bytes_are_copied(converted, trees):
    voc_root, _ = trees
    _, records = read_records(converted, "val")
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature
        name = feature["image/filename"].bytes_list.value[0].decode()
        assert (
            feature["image/encoded"].bytes_list.value[0]
            == (voc_root / "JPEGImages" / f"{name}.jpg").read_bytes()
        )
        assert feature["image/format"].bytes_list.value[0] == b"jpeg"
        assert (
            feature["image/height"].int64_list.value[0],
            feature["image/width"].int64_list.value[0],
        ) == SIZE


def test_shard_names_and_manifest(converted):
    manifest = json.loads((converted / "manifest.json").read_text())
    for split, entry in manifest["splits"].items():
        files, records = read_records(converted, split)
        count = len(files)
        assert count == entry["num_shards"] > 0
        assert [f.name for f in files] == [
            f"{split}-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)
        ]
        assert (
            sum(s["num_records"] for s in entry["shards"])
            == len(records)
            == entry["num_images"]
        )
        assert len(entry["class_pixels"]) == 21
        assert (
            sum(entry["class_pixels"]) + entry["ignored_pixels"]
            == entry["num_images"] * SIZE[0] * SIZE[1]
        )
    assert manifest["splits"]["train_aug"]["num_shards"] > 1


def test_official_decoder_reads_our_records(converted, trees):
    from official.vision.dataloaders.segmentation_input import Decoder

    voc_root, _ = trees
    _, records = read_records(converted, "val")
    decoder = Decoder()
    for record in records:
        data = decoder.decode(tf.constant(record))
        name = (
            tf.train.Example.FromString(record)
            .features.feature["image/filename"]
            .bytes_list.value[0]
            .decode()
        )
        label = tf.io.decode_image(data["image/segmentation/class/encoded"], channels=1)
        expected_label = np.array(
            Image.open(voc_root / "SegmentationClass" / f"{name}.png")
        )
        np.testing.assert_array_equal(label[..., 0].numpy(), expected_label)
        image = tf.io.decode_image(data["image/encoded"], channels=3)
        source = tf.io.decode_jpeg(
            (voc_root / "JPEGImages" / f"{name}.jpg").read_bytes(), channels=3
        )
        np.testing.assert_array_equal(image.numpy(), source.numpy())
        assert (int(data["image/height"]), int(data["image/width"])) == SIZE


def test_without_sbd_there_is_no_train_aug(trees, tmp_path, capsys):
    voc_root, _ = trees
    assert (
        voc.main(
            [
                "--voc-root",
                str(voc_root),
                "--out",
                str(tmp_path),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert "no --sbd-root, so no train_aug" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["splits"]) == ["train", "trainval", "val"]


def test_missing_roots_are_one_line_errors(tmp_path, capsys):
    assert (
        voc.main(["--voc-root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --voc-root {tmp_path / 'nope'}: not a directory")
    assert "\n" not in err
