"""Conversion engine: bad input, --skip-bad, idempotence, kill-and-resume, --verify."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree
from tfrecords_tools import voc

SIZE = (40, 56)


@pytest.fixture
def voc_root(tmp_path):
    ids = [voc_id(i) for i in range(10)]
    return write_voc_tree(tmp_path / "src", ids[:6], ids[6:], size=SIZE)


def run(voc_root, out, *extra):
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


def shard_bytes(out):
    return {
        path.name: path.read_bytes() for path in sorted(Path(out).glob("*.tfrecord"))
    }


def break_inputs(voc_root):
    """One problem of each kind in the train split; returns {kind: file}."""
    ids = (voc_root / "ImageSets" / "Segmentation" / "train.txt").read_text().split()
    missing = voc_root / "JPEGImages" / f"{ids[0]}.jpg"
    missing.unlink()
    corrupt = voc_root / "JPEGImages" / f"{ids[1]}.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    resized = voc_root / "SegmentationClass" / f"{ids[2]}.png"
    Image.open(resized).resize((SIZE[1] + 3, SIZE[0])).save(resized)
    out_of_range = voc_root / "SegmentationClass" / f"{ids[3]}.png"
    label = Image.open(out_of_range)
    values = np.array(label)
    values[0, :3] = [21, 40, 254]
    broken = Image.fromarray(values)
    broken.putpalette(label.getpalette())
    broken.save(out_of_range)
    colour = voc_root / "SegmentationClass" / f"{ids[4]}.png"
    Image.open(colour).convert("RGB").save(colour)
    return ids, {
        "image file missing": missing,
        "corrupt image": corrupt,
        f"label size {SIZE[1] + 3}x{SIZE[0]} differs from image size "
        f"{SIZE[1]}x{SIZE[0]}": resized,
        "label values outside 0..20 and 255: [21, 40, 254]": out_of_range,
        "label mode is RGB, expected palette indices": colour,
    }


def test_bad_input_refuses_the_split_and_lists_every_problem(
    voc_root, tmp_path, capsys
):
    _, problems = break_inputs(voc_root)
    out = tmp_path / "out"
    assert run(voc_root, out) == 1
    err = capsys.readouterr().err
    for message, path in problems.items():
        assert f"{path}: {message}" in err
    assert "train: 5 problem(s), nothing written for this split" in err
    # Nothing of train (or trainval, which holds the same files) was written...
    assert not list(out.glob("train-*")) and not list(out.glob("trainval-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert "train" not in manifest["splits"]
    # ...while the clean split was.
    assert manifest["splits"]["val"]["num_images"] == 4


def test_skip_bad_converts_the_rest_and_records_what_was_skipped(
    voc_root, tmp_path, capsys
):
    ids, problems = break_inputs(voc_root)
    out = tmp_path / "out"
    assert run(voc_root, out, "--skip-bad") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    assert train["num_images"] == 1
    assert sorted(entry["id"] for entry in train["skipped"]) == sorted(ids[:5])
    assert "skipped:" in capsys.readouterr().out


def test_rerun_is_idempotent_and_deterministic(voc_root, tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run(voc_root, first) == 0
    before = shard_bytes(first)
    manifest = (first / "manifest.json").read_text()
    capsys.readouterr()
    assert run(voc_root, first) == 0
    assert "0 shard(s) written" in capsys.readouterr().out
    assert shard_bytes(first) == before
    assert (first / "manifest.json").read_text() == manifest
    assert run(voc_root, second) == 0
    assert shard_bytes(second) == before
    assert len(before) > 4


def test_changed_or_damaged_shards_are_rewritten(voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(voc_root, out) == 0
    before = shard_bytes(out)
    victim = sorted(out.glob("val-*.tfrecord"))[0]
    victim.write_bytes(b"garbage")
    sorted(out.glob("train-*.tfrecord"))[0].unlink()
    capsys.readouterr()
    assert run(voc_root, out) == 0
    printed = capsys.readouterr().out
    assert "val: 4 images, 1 shard(s) written" in printed
    assert "train: 6 images, 1 shard(s) written" in printed
    assert shard_bytes(out) == before


def test_temporaries_of_a_killed_run_are_removed_by_the_next(voc_root, tmp_path):
    out = tmp_path / "out"
    assert run(voc_root, out) == 0
    before = shard_bytes(out)
    # pid 999999 is not running: these are a killed writer's.
    (out / ".manifest.json.partial-999999-ab.json").write_text('{"half": ')
    (out / ".train-00000-of-00003.tfrecord.partial-999999-cd").write_bytes(b"half")
    (out / ".train-00001-of-00003.tfrecord.tmp-99999").write_bytes(b"an older one")
    sorted(out.glob("train-*.tfrecord"))[0].unlink()  # so the rerun has work to do
    assert run(voc_root, out) == 0
    assert not list(out.glob(".*partial*")) and not list(out.glob(".*tmp*"))
    assert shard_bytes(out) == before


def test_verify_catches_damage(voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(voc_root, out) == 0
    assert voc.main(["--out", str(out), "--verify", "--quiet"]) == 0
    victim = sorted(out.glob("val-*.tfrecord"))[0]
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    capsys.readouterr()
    assert voc.main(["--out", str(out), "--verify", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{victim}: sha256 differs from the manifest" in err
    assert f"{victim}: unreadable record" in err


@pytest.mark.slow
def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path):
    ids = [voc_id(i) for i in range(80)]
    source = write_voc_tree(tmp_path / "src", ids[:70], ids[70:], size=(375, 500))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    args = [
        "--voc-root",
        str(source),
        "--workers",
        "1",
        "--quiet",
        "--shard-mb",
        "0.05",
        "--splits",
        "train",
    ]
    assert voc.main([*args, "--out", str(reference)]) == 0
    expected = shard_bytes(reference)
    assert len(expected) >= 20

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tfrecords_tools.voc", *args, "--out", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline and len(list(killed.glob("train-*.tfrecord"))) < 3
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = shard_bytes(killed)
    assert 3 <= len(partial) < len(expected), "the run ended before it could be killed"
    for name, data in partial.items():  # every shard under its final name is complete
        assert data == expected[name]

    assert voc.main([*args, "--out", str(killed)]) == 0
    assert shard_bytes(killed) == expected
    strip = lambda text: json.loads(text)  # noqa: E731
    assert strip((killed / "manifest.json").read_text()) == strip(
        (reference / "manifest.json").read_text()
    )
    assert not list(killed.glob(".*tmp*")) and not list(killed.glob(".*partial*"))


def test_workers_in_parallel_give_the_same_shards(voc_root, tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run(voc_root, serial) == 0
    args = [
        "--voc-root",
        str(voc_root),
        "--out",
        str(parallel),
        "--quiet",
        "--shard-mb",
        "0.005",
    ]
    assert voc.main([*args, "--workers", "2"]) == 0
    assert shard_bytes(parallel) == shard_bytes(serial)


def test_unreadable_manifest_is_one_line(voc_root, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{not json")
    assert run(voc_root, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out / 'manifest.json'}: not valid JSON")
    shutil.rmtree(out)


def test_verify_reports_every_splits_problems(voc_root, tmp_path, capsys):
    """A problem in one split once hid a count mismatch in every later one."""
    out = tmp_path / "out"
    assert run(voc_root, out) == 0
    train = sorted(out.glob("train-*.tfrecord"))[0]  # sorted before val
    data = bytearray(train.read_bytes())
    data[-5] ^= 0xFF
    train.write_bytes(bytes(data))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["splits"]["val"]["num_images"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert voc.main(["--out", str(out), "--verify", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{train}: sha256 differs from the manifest" in err
    val_images = manifest["splits"]["val"]["num_images"]
    assert f"val: {val_images - 1} records, manifest says {val_images} images" in err
