"""The shard format: records both ways, shard names, the manifest."""

import json

import pytest

from tfdeeplab import shard_format
from tfdeeplab.shard_format import (
    ManifestError,
    manifest_shards,
    parse_example,
    read_manifest,
    serialize_example,
    write_manifest,
)

RECORD = dict(
    image=b"\xff\xd8jpeg",
    image_format="jpeg",
    height=375,
    width=500,
    filename="2007_000032",
    label_png=b"\x89PNGlabel",
)


def test_records_round_trip_with_the_official_keys():
    parsed = parse_example(serialize_example(**RECORD))
    assert parsed == {
        "image/encoded": b"\xff\xd8jpeg",
        "image/format": b"jpeg",
        "image/height": 375,
        "image/width": 500,
        "image/filename": b"2007_000032",
        "image/segmentation/class/encoded": b"\x89PNGlabel",
        "image/segmentation/class/format": b"png",
    }
    assert serialize_example(**RECORD) == serialize_example(**RECORD)


def test_unannotated_records_have_no_label_keys():
    parsed = parse_example(serialize_example(**{**RECORD, "label_png": None}))
    assert not set(shard_format.LABEL_KEYS) & set(parsed)


def test_a_record_without_an_image_key_is_refused():
    import tensorflow as tf

    example = tf.train.Example()
    example.features.feature["image/height"].int64_list.value.append(3)
    with pytest.raises(ValueError, match="record has no image/encoded"):
        parse_example(example.SerializeToString())


def test_shard_names_match_their_pattern(tmp_path):
    name = shard_format.shard_name("train_aug", 3, 12)
    assert name == "train_aug-00003-of-00012.tfrecord"
    (tmp_path / name).write_bytes(b"")
    assert [p.name for p in tmp_path.glob(shard_format.shard_pattern("train_aug"))] == [
        name
    ]
    assert not list(tmp_path.glob(shard_format.shard_pattern("train")))


def test_manifest_round_trip_and_stale_temporaries(tmp_path):
    assert read_manifest(tmp_path) == {"format_version": 1, "splits": {}}
    (tmp_path / ".manifest.json.partial-999999-ab.json").write_text('{"half": ')
    manifest = {
        "format_version": 1,
        "dataset": "voc",
        "splits": {
            "val": {
                "shards": [{"file": "val-00000-of-00001.tfrecord", "num_records": 4}]
            }
        },
    }
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    assert manifest_shards(tmp_path) == {
        "val-00000-of-00001.tfrecord": {
            "file": "val-00000-of-00001.tfrecord",
            "num_records": 4,
        }
    }


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"splits": 3}', "\xff\xfe"])
def test_unreadable_manifests_are_one_line_naming_the_file(tmp_path, text):
    (tmp_path / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ManifestError) as raised:
        read_manifest(tmp_path)
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "manifest.json")) and "\n" not in message
    json.dumps(message)  # plain text
