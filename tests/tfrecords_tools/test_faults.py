"""Converter faults: each ends in one line, and nothing half-written is left or read.

Ctrl-C in the middle (of the VOC, folder and COCO converters), two converters on one
output, a corrupt SBD .mat, bad output directories and options, a full disk, ids
listed twice.
"""

import importlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfdeeplab.catalog.datasets import DATASETS
from tfdeeplab.data.records import shard_files
from tfdeeplab.file_lock import exclusive_lock
from tfdeeplab.synthetic_datasets import (
    voc_id,
    write_folder_tree,
    write_sbd_tree,
    write_voc_tree,
)
from tfrecords_tools import voc
from tfrecords_tools.conversion import LOCK_FILE

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture
def voc_root(tmp_path):
    ids = [voc_id(i) for i in range(10)]
    return write_voc_tree(tmp_path / "src", ids[:6], ids[6:], size=(40, 56))


def convert(voc_root, out, *extra):
    return voc.main(
        [
            "--voc-root",
            str(voc_root),
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
            "--shard-mb",
            "0.005",
            *extra,
        ]
    )


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def shards(out):
    return {p.name: p.read_bytes() for p in sorted(Path(out).glob("*.tfrecord"))}


def test_a_second_converter_on_one_output_is_refused(voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with exclusive_lock(out / LOCK_FILE, str(out)):
        assert convert(voc_root, out) == 2
    assert f"in use by pid {os.getpid()} on " in one_error_line(capsys)
    assert not shards(out)


def test_readers_and_verify_go_by_the_manifest(voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(voc_root, out) == 0
    listed = shard_files(out, "train", DATASETS["voc"])
    stray = out / "train-00007-of-00009.tfrecord"  # as a second converter leaves
    stray.write_bytes(next(iter(shards(out).values())))
    assert shard_files(out, "train", DATASETS["voc"]) == listed  # readers ignore it
    capsys.readouterr()
    assert voc.main(["--out", str(out), "--verify", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{stray}: a train shard manifest.json does not list" in err


def test_ids_listed_twice_are_bad_input(voc_root, tmp_path, capsys):
    train = voc_root / "ImageSets" / "Segmentation" / "train.txt"
    ids = train.read_text().split()
    train.write_text("\n".join([*ids, ids[1], ids[1], ids[2]]) + "\n")
    assert convert(voc_root, tmp_path / "out") == 2
    line = one_error_line(capsys)
    assert line == f"error: {train}: ids listed more than once: {ids[1]}, {ids[2]}"


def test_a_corrupt_sbd_mat_is_listed_and_skip_bad_skips_it(tmp_path, capsys):
    ids = [voc_id(i) for i in range(8)]
    voc_root = write_voc_tree(
        tmp_path / "src", ids[:2], ids[2:4], size=(40, 56), extra_image_ids=ids[4:]
    )
    sbd_root = write_sbd_tree(tmp_path / "src", ids[4:], [], size=(40, 56))
    corrupt = sbd_root / "cls" / f"{ids[5]}.mat"
    corrupt.write_bytes(corrupt.read_bytes()[:150])
    arguments = [
        "--voc-root",
        str(voc_root),
        "--sbd-root",
        str(sbd_root),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "1",
        "--quiet",
        "--splits",
        "train_aug",
    ]
    assert voc.main(arguments) == 1
    err = capsys.readouterr().err
    assert "train_aug: 1 problem(s), nothing written" in err
    assert f"{corrupt}: cannot read GTcls.Segmentation (" in err
    assert "Traceback" not in err
    assert voc.main([*arguments, "--skip-bad"]) == 0
    assert (
        f"skipped: {corrupt}: cannot read GTcls.Segmentation" in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    "option, message",
    [
        (["--shard-mb", "0"], "--shard-mb: expected a positive number, got 0"),
        (["--workers", "0"], "--workers: expected a positive number, got 0"),
    ],
)
def test_impossible_options_are_one_line(voc_root, tmp_path, option, message, capsys):
    with pytest.raises(SystemExit) as raised:
        convert(voc_root, tmp_path / "out", *option)
    assert raised.value.code == 2
    assert message in one_error_line(capsys)


def test_an_output_that_is_a_file_or_a_malformed_manifest_is_one_line(
    voc_root, tmp_path, capsys
):
    as_file = tmp_path / "a_file"
    as_file.write_text("not a directory")
    assert convert(voc_root, as_file) == 2
    assert one_error_line(capsys).startswith(f"error: {as_file}: ")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("[1, 2, 3]")
    assert convert(voc_root, out) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {out / 'manifest.json'}: expected a JSON object")


def run_converter(arguments, module="tfrecords_tools.voc", **options):
    return subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_no_temporary(voc_root, tmp_path):
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (6_000, 6_000))

    out = tmp_path / "out"
    process = run_converter(
        [
            "--voc-root",
            str(voc_root),
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
            "--shard-mb",
            "1",
        ],
        preexec_fn=limit_file_size,
    )
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "cannot write" in err, err
    assert not list(out.glob(".*tmp*")) and not list(out.glob("*.tfrecord"))


@pytest.mark.slow
def test_ctrl_c_ends_the_workers_in_seconds_and_the_rerun_finishes_exactly(
    tmp_path, ctrl_c_interrupts
):
    ids = [voc_id(i) for i in range(160)]
    source = write_voc_tree(tmp_path / "src", ids, [], size=(375, 500))
    arguments = [
        "--voc-root",
        str(source),
        "--workers",
        "2",
        "--quiet",
        "--shard-mb",
        "0.5",
        "--splits",
        "train",
    ]
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    assert voc.main([*arguments, "--out", str(reference)]) == 0

    process = run_converter(
        [*arguments, "--out", str(interrupted)], start_new_session=True
    )
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2:  # the workers are up: checking has begun
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 20
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        "interrupted: every shard written so far is complete and recorded; run the "
        "same command to finish the conversion"
    ]
    assert not _children(process.pid)
    assert voc.main([*arguments, "--out", str(interrupted)]) == 0
    assert shards(interrupted) == shards(reference)


def folder_source(root: Path) -> list[str]:
    """120 photos and masks in two folders, as `tfrecords_tools.folder` takes them."""
    images, masks, _ = write_folder_tree(
        root, [f"{i:04d}" for i in range(120)], size=(375, 500)
    )
    return ["--images", str(images), "--masks", str(masks), "--split", "train"]


def coco_source(root: Path) -> list[str]:
    """160 photos and a COCO file of a few polygons each."""
    images = root / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries, annotations = [], []
    for i in range(160):
        pixels = rng.integers(0, 256, (375, 500, 3), np.uint8)
        Image.fromarray(pixels).save(images / f"{i:04d}.jpg", quality=90)
        entries.append(
            {"id": i, "file_name": f"{i:04d}.jpg", "height": 375, "width": 500}
        )
        for k in range(3):
            top, left = 20 + 90 * k, 30 + 100 * k
            polygon = [left, top, left + 150, top, left + 150, top + 80, left, top + 80]
            annotations.append(
                {"id": 3 * i + k, "image_id": i, "category_id": 1 + k,
                 "segmentation": [polygon], "iscrowd": 0}
            )  # fmt: skip
    categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"},
                  {"id": 3, "name": "cat"}]  # fmt: skip
    record = {"images": entries, "annotations": annotations, "categories": categories}
    (root / "instances.json").write_text(json.dumps(record))
    return [
        "--annotations", str(root / "instances.json"), "--images", str(images),
        "--split", "train", "--min-pixels", "0",
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "module, make_source",
    [("tfrecords_tools.folder", folder_source), ("tfrecords_tools.coco", coco_source)],
)
def test_ctrl_c_in_a_folder_or_coco_conversion_and_the_rerun_finishes_exactly(
    tmp_path, ctrl_c_interrupts, module, make_source
):
    arguments = [*make_source(tmp_path / "src"), "--workers", "2", "--quiet"]
    arguments += ["--shard-mb", "0.5"]
    main = importlib.import_module(module).main
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    assert main([*arguments, "--out", str(reference)]) == 0
    assert len(shards(reference)) > 4

    process = run_converter(
        [*arguments, "--out", str(interrupted)], module, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2:  # the workers are up: checking has begun
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.5)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        "interrupted: every shard written so far is complete and recorded; run the "
        "same command to finish the conversion"
    ]
    assert not _children(process.pid)
    assert main([*arguments, "--out", str(interrupted)]) == 0  # no --force needed
    assert shards(interrupted) == shards(reference)


def _children(pid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return found.stdout.split()


def test_an_output_that_cannot_be_written_is_one_line(voc_root, capsys):
    out = Path("/sys/tfdeeplab-shards")  # sysfs refuses new directories, even to root
    assert convert(voc_root, out) == 2
    assert one_error_line(capsys).startswith(f"error: {out}: ")
