"""COCO-format annotations to shards: polygons of several parts, RLE both ways, crowd
regions, overlaps, `voc` / `all` / FILE category maps, --min-pixels, two splits in one
manifest, bad input listed, identical shards on a re-run."""

import hashlib
import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from tests.helpers import (
    H,
    W,
    annotation,
    box,
    coco_file,
    labels_in,
    rle_of,
)
from tfdeeplab import shard_format
from tfrecords_tools import coco


def uncompressed_rle_of(array):
    flat = array.astype(np.uint8).flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def region(top, left, bottom, right):
    array = np.zeros((H, W), bool)
    array[top:bottom, left:right] = True
    return array


def polygon_mask(parts):
    return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(parts, H, W))).astype(
        bool
    )


ANNOTATIONS = [
    # image 1: a person in two parts, a dog overlapping it, a crowd of chairs.
    annotation(1, 1, 1, [box(2, 2, 20, 20), box(25, 30, 40, 50)]),
    annotation(2, 1, 18, rle_of(region(10, 10, 30, 30))),
    annotation(3, 1, 62, uncompressed_rle_of(region(35, 0, 48, 12)), crowd=1),
    # image 3: a kite (background for voc) and a chair by uncompressed RLE.
    annotation(4, 3, 38, [box(0, 40, 20, 64)]),
    annotation(5, 3, 62, uncompressed_rle_of(region(22, 5, 46, 30))),
]  # image 2 has no annotations


def expected_label(image, mapping):
    """The rules, applied here with pycocotools: classes, overlaps and crowd ignored."""
    label = np.zeros((H, W), np.uint8)
    covered = np.zeros((H, W), int)
    crowd = np.zeros((H, W), bool)
    for ann in ANNOTATIONS:
        if ann["image_id"] != image or ann["category_id"] not in mapping:
            continue
        segmentation = ann["segmentation"]
        if isinstance(segmentation, list):
            mask = polygon_mask(segmentation)
        elif isinstance(segmentation["counts"], list):
            mask = coco_mask.decode(coco_mask.frPyObjects(segmentation, H, W)) > 0
        else:
            mask = (
                coco_mask.decode(
                    {"size": [H, W], "counts": segmentation["counts"].encode()}
                )
                > 0
            )
        if ann["iscrowd"]:
            crowd |= mask
            continue
        label[mask] = mapping[ann["category_id"]]
        covered += mask
    label[(covered > 1) | crowd] = 255
    return label


def convert(path, images, out, *more):
    args = ["--annotations", str(path), "--images", str(images), "--out", str(out)]
    return coco.main([*args, "--quiet", "--workers", "1", *more])


@pytest.mark.parametrize("categories", ["voc", "all", "file"])
def test_labels_equal_the_masks_by_the_rules(tmp_path, categories):
    path, images = coco_file(tmp_path, ANNOTATIONS)
    if categories == "voc":
        mapping, names = {1: 15, 18: 12, 62: 9}, None
    elif categories == "all":
        mapping = {1: 1, 18: 2, 38: 3, 62: 4}
        names = ("background", "person", "dog", "kite", "chair")
    else:
        chosen = {"person": "human", "dog": "animal", "chair": "furniture"}
        (tmp_path / "map.json").write_text(json.dumps(chosen))
        categories = str(tmp_path / "map.json")
        mapping = {1: 1, 18: 2, 62: 3}
        names = ("background", "human", "animal", "furniture")
    out = tmp_path / "out"
    more = ["--split", "val", "--categories", categories]
    assert convert(path, images, out, *more) == 0
    found = labels_in(out, "val")
    assert sorted(found) == ["0001", "0002", "0003"]
    for image in (1, 2, 3):
        np.testing.assert_array_equal(
            found[f"{image:04d}"], expected_label(image, mapping)
        )
    descriptor = shard_format.descriptor_held(out)
    if names:
        assert descriptor.class_names == names
    else:
        assert descriptor.class_names[15] == "person" and descriptor.num_classes == 21
    assert (found["0001"] == 255).any()  # the overlap and the crowd


def test_min_pixels_drops_nearly_empty_images_and_says_how_many(tmp_path):
    path, images = coco_file(tmp_path, ANNOTATIONS)
    out = tmp_path / "out"
    assert convert(path, images, out, "--split", "train") == 0  # default 1000 for train
    manifest = shard_format.read_manifest(out)
    entry = manifest["splits"]["train"]
    # image 1: person 18*18 + 15*20 = 624 and dog 400 pixels: 1024 >= 1000;
    # image 2: none; image 3: chair 24 * 25 = 600 < 1000.
    assert entry["num_images"] == 1 and entry["dropped_below_min_pixels"] == 2
    assert convert(path, images, out, "--split", "val", "--min-pixels", "500") == 0
    descriptor = shard_format.descriptor_held(out)
    assert dict(descriptor.splits) == {"train": 1, "val": 2}


def test_a_re_run_gives_identical_shards(tmp_path):
    path, images = coco_file(tmp_path, ANNOTATIONS)
    out = tmp_path / "out"
    assert convert(path, images, out, "--split", "val") == 0

    def digests():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in out.glob("*.tfrecord")}  # fmt: skip

    first = digests()
    for shard in out.glob("*.tfrecord"):
        shard.unlink()
    assert convert(path, images, out, "--split", "val") == 0
    assert digests() == first


def test_bad_input_is_listed_and_nothing_written(tmp_path, capsys):
    images = [
        {"id": 1, "file_name": "0001.jpg", "height": H, "width": W},
        {"id": 2, "file_name": "0002.jpg", "height": H + 1, "width": W},
        {"id": 3, "file_name": "0003.jpg", "height": H, "width": W},
    ]
    bad = [
        annotation(1, 1, 1, [[1, 2, 3]]),  # a polygon of one and a half points
        annotation(2, 2, 1, [box(1, 1, 9, 9)]),  # its image is another size
    ]
    path, folder = coco_file(tmp_path, bad, images)
    (folder / "0003.jpg").unlink()
    assert convert(path, folder, tmp_path / "out", "--split", "val") == 1
    err = capsys.readouterr().err
    assert "image 0001: a segmentation that does not parse" in err
    assert "image 0002: size 64x49 in the annotations differs from the image's" in err
    assert "0003.jpg: image file missing" in err
    assert not list((tmp_path / "out").glob("*.tfrecord"))


def test_unknown_images_or_categories_and_non_coco_files_are_one_line(tmp_path, capsys):
    unknown = [
        annotation(1, 9, 1, [box(1, 1, 9, 9)]),
        annotation(2, 1, 99, [box(1, 1, 9, 9)]),
    ]
    path, images = coco_file(tmp_path, unknown)
    assert convert(path, images, tmp_path / "out", "--split", "val") == 2
    err = capsys.readouterr().err.strip()
    assert "annotations of unknown images or categories: annotation 1: image 9" in err
    assert err.count("\n") == 0
    (tmp_path / "not_coco.json").write_text('{"images": []}')
    assert (
        convert(tmp_path / "not_coco.json", images, tmp_path / "o", "--split", "v") == 2
    )
    err = capsys.readouterr().err
    assert "not a COCO annotation file (no annotations, categories list)" in err


SMALL_MODEL = [
    "model.depth=50",
    "model.units_per_stage=[1, 1, 1, 1]",
    "model.output_stride=16",
    "model.msc_scales=[]",
    "model.batch_norm=train",
    "model.frozen_stages=[]",
    "train.max_steps=2",
]


def test_pretrain_on_coco_then_fine_tune_on_voc_with_init(tmp_path, demo_shards):
    """recipes/coco_voc_pretrain.yaml on COCO-VOC shards, then voc_aspp_msc.yaml
    --init from that run: the same model, every variable restored (21 classes)."""
    from tests.helpers import tiny_overrides
    from tfdeeplab.config import load_recipe
    from tfdeeplab.experiment import train

    images = [{"id": i, "file_name": f"{i:04d}.jpg", "height": H, "width": W}
              for i in range(1, 9)]  # fmt: skip
    annotations = [
        annotation(i, i, 1 if i % 2 else 18, [box(5, 5, 40, 20 + 4 * i)])
        for i in range(1, 9)
    ]
    path, folder = coco_file(tmp_path, annotations, images)
    shards = tmp_path / "coco_voc"
    assert convert(path, folder, shards, "--split", "train", "--min-pixels", "0") == 0
    assert convert(path, folder, shards, "--split", "val") == 0

    def recipe(name, root, *more):
        overrides = tiny_overrides(root, *SMALL_MODEL, *more)
        return load_recipe(name, overrides)

    pretrain = recipe("coco_voc_pretrain", shards, "data.num_train_images=8")
    assert pretrain.model.num_classes == 21 and pretrain.data.dataset == "coco_voc"
    train(pretrain, tmp_path / "pretrain", progress=False, log=lambda line: None)
    lines = []
    fine_tune = recipe("voc_aspp_msc", demo_shards)
    train(fine_tune, tmp_path / "voc", init_weights=str(tmp_path / "pretrain"),
          progress=False, log=lines.append)  # fmt: skip
    (line,) = [line for line in lines if line.startswith("initial weights from")]
    assert "another class count" not in line and " 0 left at their" in line
