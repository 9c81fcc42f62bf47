"""What a converter is given is data, never a place to go: split names that are
paths or patterns, TFRecord files it did not write, COCO file names and links that
point elsewhere, coordinates that would make rasterising unbounded, ids and classes
that cannot be told apart, transparent mask pixels, stray files. Each ends in one
line, and what the converter did not write is left as it was."""

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import (
    CATEGORIES,
    H,
    W,
    annotation,
    box,
    coco_file,
    labels_in,
    rle_of,
)
from tfdeeplab import shard_format
from tfdeeplab.synthetic_datasets import write_folder_tree
from tfrecords_tools import coco, folder

STEMS = [f"{i:04d}" for i in range(6)]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def fingerprints(root: Path) -> dict:
    """{relative path: sha256} of every file below `root`."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def convert_folder(images, masks, out, *more):
    args = ["--images", str(images), "--masks", str(masks), "--out", str(out)]
    return folder.main([*args, "--quiet", "--workers", "1", *more])


def convert_coco(annotations, images, out, *more):
    args = ["--annotations", str(annotations), "--images", str(images)]
    return coco.main([*args, "--out", str(out), "--quiet", "--workers", "1", *more])


@pytest.fixture
def pairs(tmp_path):
    images, masks, _ = write_folder_tree(tmp_path / "src", STEMS)
    return images, masks


@pytest.fixture
def victim(tmp_path):
    """A folder beside --out holding another tool's shards of the same naming."""
    folder_ = tmp_path / "victim"
    folder_.mkdir()
    for name in ("train-00000-of-00001.tfrecord", "val-00000-of-00001.tfrecord"):
        (folder_ / name).write_bytes(b"someone else's records")
    return folder_


# ------------------------------------------------------------------ split names
@pytest.mark.parametrize("split", ["../victim/train", "*", "/abs/name", ".hidden", ""])
def test_a_split_that_is_not_a_name_is_one_line_before_any_work(
    pairs, victim, tmp_path, capsys, split
):
    before = fingerprints(tmp_path / "victim")
    out = tmp_path / "out"
    assert convert_folder(*pairs, out, "--split", split) == 2
    line = one_error_line(capsys)
    assert f"--split {split!r}: a split name is letters, digits" in line
    assert not out.exists()  # not even created
    assert fingerprints(tmp_path / "victim") == before

    path, images = coco_file(tmp_path, [annotation(1, 1, 1, [box(1, 1, 9, 9)])])
    assert convert_coco(path, images, out, "--split", split) == 2
    assert f"--split {split!r}: a split name" in one_error_line(capsys)
    assert not out.exists() and fingerprints(tmp_path / "victim") == before


def test_a_star_split_cannot_sweep_the_other_splits(pairs, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert_folder(*pairs, out, "--split", "train") == 0
    assert convert_folder(*pairs, out, "--split", "val") == 0
    before = fingerprints(out)
    capsys.readouterr()
    assert convert_folder(*pairs, out, "--split", "*") == 2
    assert "a split name is letters" in one_error_line(capsys)
    assert fingerprints(out) == before


def test_split_list_files_and_split_folders_are_names_too(tmp_path, capsys):
    images, masks, _ = write_folder_tree(tmp_path / "src", STEMS)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train set.txt").write_text("\n".join(STEMS) + "\n")
    out = tmp_path / "out"
    assert convert_folder(images, masks, out, "--split-lists", str(lists)) == 2
    assert "the split 'train set': a split name" in one_error_line(capsys)

    nested, nested_masks, _ = write_folder_tree(
        tmp_path / "nested", ["my split/0001", "my split/0002"]
    )
    assert convert_folder(nested, nested_masks, tmp_path / "out2") == 2
    assert "the folder 'my split': a split name" in one_error_line(capsys)


# ------------------------------------------------------------------ files not ours
def test_tfrecords_no_manifest_of_ours_lists_are_refused_and_kept(
    pairs, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    # Another tool's shards, in the official converters' naming: one where ours
    # would go, one of another split, one of another name.
    theirs = {
        "train-00000-of-00001.tfrecord": b"theirs 1",
        "train-00003-of-00010.tfrecord": b"theirs 2",
        "other.tfrecord": b"theirs 3",
    }
    for name, data in theirs.items():
        (out / name).write_bytes(data)
    assert convert_folder(*pairs, out, "--split", "train") == 2
    line = one_error_line(capsys)
    assert "holds TFRecord files that its manifest.json does not record" in line
    for name in theirs:
        assert name in line
    kept = {p.name: p.read_bytes() for p in out.glob("*.tfrecord")}
    assert kept == theirs and not (out / "manifest.json").exists()

    # --force: the files named as train's shards give way; the rest stays.
    assert convert_folder(*pairs, out, "--split", "train", "--force") == 0
    assert (out / "other.tfrecord").read_bytes() == b"theirs 3"
    assert not (out / "train-00003-of-00010.tfrecord").exists()
    assert sorted(labels_in(out, "train")) == STEMS
    capsys.readouterr()
    assert folder.main(["--out", str(out), "--verify", "--quiet"]) == 0


def test_a_rerun_with_another_plan_removes_only_the_shards_it_recorded(
    tmp_path, capsys
):
    images, masks, _ = write_folder_tree(tmp_path / "src", STEMS)
    out = tmp_path / "out"
    small = ["--split", "train", "--shard-mb", "0.004"]
    assert convert_folder(images, masks, out, *small) == 0
    first = sorted(p.name for p in out.glob("train-*.tfrecord"))
    assert len(first) > 1
    # An edited manifest that records files outside --out, or not shard names.
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["splits"]["train"]
    entry["shards"].append({"file": "../outside-00000-of-00001.tfrecord"})
    entry["planned_files"] = ["../victim/train-00000-of-00001.tfrecord", "notes.txt"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    outside = tmp_path / "outside-00000-of-00001.tfrecord"
    outside.write_bytes(b"not the converter's")
    (out / "notes.txt").write_text("mine")

    assert convert_folder(images, masks, out, "--split", "train") == 0  # 1 shard
    assert sorted(p.name for p in out.glob("train-*.tfrecord")) == [
        "train-00000-of-00001.tfrecord"
    ]
    assert outside.read_bytes() == b"not the converter's"
    assert (out / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    assert folder.main(["--out", str(out), "--verify", "--quiet"]) == 0


# ------------------------------------------------------------------ reading outside
@pytest.fixture
def secret(tmp_path):
    folder_ = tmp_path / "secret"
    folder_.mkdir()
    Image.new("RGB", (W, H), (1, 2, 3)).save(folder_ / "x.jpg")
    return folder_ / "x.jpg"


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_a_coco_file_name_outside_the_images_is_refused(tmp_path, secret, capsys, kind):
    path, images = coco_file(tmp_path, [annotation(1, 1, 1, [box(1, 1, 9, 9)])])
    record = json.loads(path.read_text())
    record["images"][1]["file_name"] = (
        "../secret/x.jpg" if kind == "dotdot" else str(secret)
    )
    path.write_text(json.dumps(record))
    out = tmp_path / "out"
    assert convert_coco(path, images, out, "--split", "val") == 2
    line = one_error_line(capsys)
    assert "file names outside --images" in line and "image 2 " in line
    assert not out.exists() or not list(out.glob("*.tfrecord"))


def test_links_out_of_the_inputs_are_refused_unless_followed(tmp_path, secret, capsys):
    path, images = coco_file(tmp_path, [annotation(1, 1, 1, [box(1, 1, 9, 9)])])
    (images / "0002.jpg").unlink()
    (images / "0002.jpg").symlink_to(secret)
    assert convert_coco(path, images, tmp_path / "out", "--split", "val") == 2
    assert "file names outside --images" in one_error_line(capsys)
    assert (
        convert_coco(path, images, tmp_path / "out", "--split", "val", "--follow-links")
        == 0
    )

    src, masks, _ = write_folder_tree(tmp_path / "src", STEMS)
    (src / "0001.jpg").unlink()
    (src / "0001.jpg").symlink_to(secret)  # a photo that is not in --images
    (src / "0002.jpg").rename(src / "real.jpg")
    (src / "0002.jpg").symlink_to(src / "real.jpg")  # inside: fine, paired once
    (src / "real.jpg").rename(tmp_path / "real.jpg")
    (src / "real.jpg").symlink_to(tmp_path / "real.jpg")
    out = tmp_path / "folder_out"
    assert convert_folder(src, masks, out, "--split", "train") == 2
    line = one_error_line(capsys)
    assert "links to files outside it" in line and "0001.jpg" in line
    assert not out.exists()


# ------------------------------------------------------------------ bounded work
@pytest.mark.parametrize(
    "polygon, why",
    [
        ([1, 1, 1e308, 1, 9, 9], "lies more than an image size outside"),
        ([1, 1, 5, 1, 9, -1e9], "lies more than an image size outside"),
        # A zigzag inside the image, far longer than the image's every pixel
        # outlined.
        ([v for i in range(300) for v in (0 if i % 2 else W, i % H)], "px long"),
    ],
)
def test_coordinates_that_would_make_rasterising_unbounded_are_refused(
    tmp_path, capsys, polygon, why
):
    annotations = [
        annotation(1, 1, 1, [polygon]),
        annotation(2, 2, 1, [box(1, 1, 9, 9)]),
    ]
    path, images = coco_file(tmp_path, annotations)
    started = time.monotonic()
    out = tmp_path / "out"
    assert convert_coco(path, images, out, "--split", "val", "--workers", "2") == 1
    err = capsys.readouterr().err
    assert "image 0001: a segmentation that does not parse" in err and why in err
    assert convert_coco(path, images, out, "--split", "val", "--skip-bad") == 0
    assert time.monotonic() - started < 60
    assert sorted(labels_in(out, "val")) == ["0002", "0003"]


# ------------------------------------------------------------------ told apart
def test_duplicate_coco_image_ids_and_category_names_are_refused(tmp_path, capsys):
    images = [{"id": i, "file_name": f"{n:04d}.jpg", "height": H, "width": W}
              for n, i in enumerate((1, 2, 2, 3, 3))]  # fmt: skip
    path, folder_ = coco_file(tmp_path, [], images)
    assert convert_coco(path, folder_, tmp_path / "out", "--split", "val") == 2
    assert "image ids given twice: 2, 3" in one_error_line(capsys)

    path, folder_ = coco_file(tmp_path, [])
    record = json.loads(path.read_text())
    record["categories"].append({"id": 99, "name": "dog"})
    path.write_text(json.dumps(record))
    for categories in ("all", "voc"):
        args = ["--split", "val", "--categories", categories]
        assert convert_coco(path, folder_, tmp_path / "out", *args) == 2
        assert "category names given twice: dog" in one_error_line(capsys)


def test_files_of_one_stem_get_distinct_ids_or_are_refused(tmp_path, capsys):
    images = [
        {"id": 1, "file_name": "a.jpg", "height": H, "width": W},
        {"id": 2, "file_name": "sub/a.jpg", "height": H, "width": W},
        {"id": 3, "file_name": "b.jpg", "height": H, "width": W},
    ]
    (tmp_path / "images" / "sub").mkdir(parents=True)
    path, folder_ = coco_file(
        tmp_path, [annotation(1, 2, 1, [box(1, 1, 9, 9)])], images
    )
    out = tmp_path / "out"
    assert convert_coco(path, folder_, out, "--split", "val") == 0
    found = labels_in(out, "val")
    assert sorted(found) == ["a", "b", "sub_a"]
    assert found["sub_a"][5, 5] == 15 and found["a"].max() == 0  # the person's image

    images.append({"id": 4, "file_name": "a.png", "height": H, "width": W})
    path, folder_ = coco_file(tmp_path, [], images, name="clash.json")
    assert convert_coco(path, folder_, tmp_path / "out2", "--split", "val") == 2
    line = one_error_line(capsys)
    assert "record ids would be one" in line and "a.jpg" in line and "a.png" in line


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda r: r["images"][0].pop("id"), "images[0]: no id"),
        (lambda r: r["images"][1].pop("height"), "images[1]: no height"),
        (lambda r: r["images"][2].pop("file_name"), "images[2]: no file_name"),
        (lambda r: r["categories"][0].pop("name"), "categories[0]: no name"),
        (
            lambda r: r["images"][0].update(width="48x"),
            'images[0]: width: expected an integer 1..65535, got "48x"',
        ),
        (lambda r: r["annotations"].append(7), "annotations[1]: not an object"),
        (lambda r: r["images"].append("a.jpg"), "images[3]: not an object"),
    ],
)
def test_a_coco_file_of_another_structure_is_one_line(
    tmp_path, capsys, change, expected
):
    path, images = coco_file(tmp_path, [annotation(1, 1, 1, [box(1, 1, 9, 9)])])
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    assert convert_coco(path, images, tmp_path / "out", "--split", "val") == 2
    line = one_error_line(capsys)
    assert "1 entries not as COCO has them" in line and expected in line


def test_an_rle_of_another_size_names_both_sizes(tmp_path, capsys):
    wrong = rle_of(np.ones((H, W), bool))
    wrong["size"] = [H - 8, W]
    path, images = coco_file(tmp_path, [annotation(1, 1, 18, wrong)])
    assert convert_coco(path, images, tmp_path / "out", "--split", "val") == 1
    err = capsys.readouterr().err
    assert f"an RLE of size {W}x{H - 8} on an image of size {W}x{H}" in err


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("classes.txt", "bg\nbg\ngreen\n", "one name for several classes: bg for bg"),
        (
            "classes.csv",
            "name,r,g,b\nbg,0,0,0\ngrass,0,128,0\ntree,0,128,0\n",
            "one colour for several classes: (0, 128, 0) for grass and tree",
        ),
        (
            "classes.json",
            json.dumps({"names": ["bg", "a", "b"], "ignore_label": 1}),
            "the ignore label 1 is also the id of class 'a'",
        ),
        (
            "classes.json",
            json.dumps({"names": ["bg", "a"], "ignore_label": True}),
            "ignore_label: expected an integer in 0..255",
        ),
        (
            "classes.txt",
            "".join(f"c{i}\n" for i in range(256)),
            "the ignore label 255 is also the id of class 'c255'",
        ),
        (
            "classes.txt",
            "".join(f"c{i}\n" for i in range(300)),
            "300 classes; a mask holds at most 255",
        ),
    ],
)
def test_classes_that_cannot_be_told_apart_or_trained_are_refused(
    pairs, tmp_path, capsys, name, text, expected
):
    classes = tmp_path / name
    classes.write_text(text)
    out = tmp_path / "out"
    args = ["--split", "train", "--classes", str(classes)]
    assert convert_folder(*pairs, out, *args) == 2
    assert expected in one_error_line(capsys)
    assert not out.exists() or not list(out.glob("*.tfrecord"))


def test_an_ignore_label_among_the_ids_found_is_refused(pairs, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert_folder(*pairs, out, "--split", "train", "--ignore-label", "1") == 2
    assert "the ignore label 1 is also the id of class 'class_1'" in one_error_line(
        capsys
    )


# ------------------------------------------------------------------ masks, layout
def test_transparent_pixels_of_an_rgba_mask_are_ignored(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    Image.new("RGB", (W, H), (50, 60, 70)).save(images / "a.jpg")
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = (0, 128, 0)  # grass, opaque on the left half
    rgba[:, : W // 2, 3] = 255
    rgba[:, W // 2 :, :3] = (1, 2, 3)  # a colour in no class, but transparent
    Image.fromarray(rgba, "RGBA").save(masks / "a.png")
    classes = tmp_path / "classes.csv"
    classes.write_text("name,r,g,b\nbg,0,0,0\ngrass,0,128,0\n")
    out = tmp_path / "out"
    args = ["--split", "train", "--classes", str(classes)]
    assert convert_folder(images, masks, out, *args) == 0
    label = labels_in(out, "train")["a"]
    assert (label[:, : W // 2] == 1).all() and (label[:, W // 2 :] == 255).all()


def test_files_beside_the_split_folders_are_named(tmp_path, capsys):
    images, masks, _ = write_folder_tree(
        tmp_path / "src", ["training/0001", "validation/0002"]
    )
    Image.new("RGB", (W, H)).save(images / "stray.png")
    out = tmp_path / "out"
    assert convert_folder(images, masks, out) == 2
    line = one_error_line(capsys)
    assert "files outside the split folders (training, validation)" in line
    assert "stray.png" in line
    assert not out.exists()


def unprivileged(function):
    """(return value, stderr) of `function()` run as `nobody` in a forked process
    where the suite runs as root (no permission bit binds root; forked, as the
    interpreter's own files may be root's alone), else here as the suite's user."""
    import contextlib
    import io
    import pwd

    def run():
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            return function(), err.getvalue()

    if os.geteuid() != 0:
        return run()
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports and ends, whatever happens
        result = [70, "the child failed"]
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            result = run()
        finally:
            os.write(write, json.dumps(result).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as stream:
        result = json.loads(stream.read())
    os.waitpid(child, 0)
    return result


def test_a_readonly_out_is_one_line_for_an_unprivileged_user(pairs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    for path in [tmp_path, *tmp_path.parents]:  # nobody may read the inputs
        if path.stat().st_mode & 0o005 != 0o005:
            path.chmod(path.stat().st_mode | 0o005)
    args = ["--split", "train", "--quiet", "--workers", "1"]
    code, err = unprivileged(lambda: convert_folder(*pairs, out, *args))
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}"), lines
    assert "ermission denied" in lines[0]
    assert list(out.iterdir()) == []


def test_categories_are_checked_with_the_classes_rules(tmp_path, capsys):
    """--categories all of 300 categories: more classes than a mask holds."""
    path, images = coco_file(tmp_path, [])
    record = json.loads(path.read_text())
    record["categories"] = CATEGORIES + [
        {"id": 1000 + i, "name": f"thing{i}"} for i in range(300)
    ]
    path.write_text(json.dumps(record))
    args = ["--split", "val", "--categories", "all"]
    assert convert_coco(path, images, tmp_path / "out", *args) == 2
    assert "305 classes; a mask holds at most 255" in one_error_line(capsys)
    assert shard_format.MANIFEST not in [p.name for p in tmp_path.iterdir()]


# ------------------------------------------------------------------ ids as paths
def test_a_list_file_id_that_is_a_path_is_refused(tmp_path, secret, capsys):
    from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree
    from tfrecords_tools import voc

    ids = [voc_id(i) for i in range(4)]
    root = write_voc_tree(tmp_path / "src", ids[:2], ids[2:], size=(40, 56))
    train = root / "ImageSets" / "Segmentation" / "train.txt"
    train.write_text(train.read_text() + "../../../secret/x\n")
    out = tmp_path / "out"
    assert voc.main(["--voc-root", str(root), "--out", str(out), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert f"{train}: ids that are paths, not file names: '../../../secret/x'" in line
    assert not out.exists()


def test_predictions_are_never_written_outside_their_folder(tmp_path):
    from tfdeeplab.atomic_files import OutputError
    from tfdeeplab.catalog.datasets import DATASETS
    from tfdeeplab.evaluation.outputs import submission_writer

    write = submission_writer(DATASETS["voc"], tmp_path / "predictions")
    labels = np.zeros((4, 4), np.int32)
    write("2007_000033", labels)
    for image_id in ("../outside", "/tmp/abs", ".hidden"):
        with pytest.raises(OutputError, match="is a path, not a file name"):
            write(image_id, labels)
    assert [p.name for p in (tmp_path / "predictions").iterdir()] == ["2007_000033.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions"]
