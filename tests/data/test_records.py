"""Finding shards, counting their records, decoding records."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.data.records import (
    MissingShardsError,
    decode_record,
    record_counts,
    shard_files,
)
from tfdeeplab.shard_format import serialize_example, shard_name


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_shard(path, count, labelled=True):
    image = np.full((6, 8, 3), 40, np.uint8)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index in range(count):
            writer.write(
                serialize_example(
                    image=png(image),
                    image_format="png",
                    height=6,
                    width=8,
                    filename=f"im{index}",
                    label_png=png(np.full((6, 8), 3, np.uint8)) if labelled else None,
                )
            )


def test_missing_shards_name_path_and_command(tmp_path):
    with pytest.raises(MissingShardsError) as raised:
        shard_files(tmp_path / "nowhere", "train_aug", DATASETS["voc"])
    message = str(raised.value)
    assert message.startswith(f"no shards at {tmp_path / 'nowhere'}/train_aug-*-of-*")
    assert "write them with: python -m tfrecords_tools.voc" in message
    assert f"--out {tmp_path / 'nowhere'}" in message
    with pytest.raises(MissingShardsError, match="tfrecords_tools.cityscapes"):
        shard_files(tmp_path, "val", DATASETS["cityscapes"])


def test_shard_files_are_the_splits_own_sorted(tmp_path):
    for name in (
        shard_name("val", 1, 2),
        shard_name("val", 0, 2),
        shard_name("train", 0, 1),
        "val-notes.txt",
    ):
        (tmp_path / name).write_bytes(b"")
    assert [
        p.rsplit("/", 1)[1] for p in shard_files(tmp_path, "val", DATASETS["voc"])
    ] == [
        "val-00000-of-00002.tfrecord",
        "val-00001-of-00002.tfrecord",
    ]


def test_record_counts_come_from_the_manifest_else_from_the_shards(tmp_path):
    first, second = (
        tmp_path / shard_name("val", 0, 2),
        tmp_path / shard_name("val", 1, 2),
    )
    write_shard(first, 3)
    write_shard(second, 2)
    files = [str(first), str(second)]
    assert record_counts(files) == [3, 2]  # no manifest: counted
    manifest = {"splits": {"val": {"shards": [{"file": first.name, "num_records": 7}]}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert record_counts(files) == [7, 2]  # the manifest is believed where it speaks
    (tmp_path / "manifest.json").write_text("{broken")
    assert record_counts(files) == [3, 2]


def test_decoded_records_and_unannotated_images(tmp_path):
    path = tmp_path / shard_name("test", 0, 1)
    write_shard(path, 1, labelled=False)
    record = next(iter(tf.data.TFRecordDataset(str(path))))
    decoded = decode_record(record, ignore_label=254)
    assert decoded["image"].shape == (6, 8, 3) and decoded["id"].numpy() == b"im0"
    assert decoded["label"].shape == (6, 8, 1)
    assert np.all(decoded["label"].numpy() == 254)
    write_shard(path, 1, labelled=True)
    labelled = decode_record(next(iter(tf.data.TFRecordDataset(str(path)))))
    assert np.all(labelled["label"].numpy() == 3)


def test_a_home_relative_root_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_shard(tmp_path / shard_name("val", 0, 1), 2)
    assert shard_files("~", "val", DATASETS["voc"]) == [
        str(tmp_path / shard_name("val", 0, 1))
    ]


def test_a_misspelt_split_names_the_splits_that_exist(tmp_path):
    write_shard(tmp_path / shard_name("val", 0, 1), 2)
    manifest = {"splits": {"val": {}, "train_aug": {}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MissingShardsError) as raised:
        shard_files(tmp_path, "trian_aug", DATASETS["voc"])
    assert str(raised.value) == (
        f"no split 'trian_aug' in {tmp_path}: it holds train_aug, val "
        "(check data.train_split and data.eval_split)"
    )
