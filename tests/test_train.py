"""`python -m tfdeeplab.train` under faults: one line, exit code 2, nothing lost.

Each test provokes its fault for real (deleted, garbled or corrupt files, a held
lock, a changed recipe, data that do not fit, a size-limited process) and checks the
exit code, the one line, and that no checkpoint was lost or changed.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import fingerprints, one_error_line, tiny_overrides
from tfdeeplab import train as train_cli
from tfdeeplab.experiment.demo_job import RECIPE
from tfdeeplab.run_directory import RunDirectory


def run_train(shards, workdir, *more):
    return train_cli.main(
        [
            str(RECIPE),
            "--workdir",
            str(workdir),
            "--no-progress",
            "--set",
            *tiny_overrides(shards, *more),
        ]
    )


@pytest.fixture(scope="module")
def finished_run(demo_shards, tmp_path_factory):
    """A run of 6 steps with checkpoints 2, 4 and 6."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    assert run_train(demo_shards, workdir) == 0
    return workdir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def checkpoint_files(workdir, step):
    return sorted((workdir / "checkpoints").glob(f"ckpt-{step}.*"))


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
def test_a_lost_index_resumes_from_the_newest_checkpoint_on_disk(
    demo_shards, run_copy, damage, capsys
):
    index = run_copy / "checkpoints" / "checkpoint"
    if damage == "deleted":
        index.unlink()
    else:
        index.write_text("model_checkpoint_path: {{{ garbage\n")
    before = fingerprints(run_copy / "checkpoints")
    assert run_train(demo_shards, run_copy, "train.max_steps=8") == 0
    out = capsys.readouterr().out
    assert f"resumed from {run_copy / 'checkpoints' / 'ckpt-6'} at step 6" in out
    assert "steps             6 -> 8 of 8" in out
    after = fingerprints(run_copy / "checkpoints")
    for name in ("ckpt-4.index", "ckpt-6.index"):  # ckpt-2 rotates out (keep 3)
        assert after[name] == before[name]
    assert RunDirectory(run_copy).latest_checkpoint().endswith("ckpt-8")


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["data flipped", "index truncated", "index deleted"])
def test_a_corrupt_newest_checkpoint_is_skipped_kept_and_the_run_resumes(
    demo_shards, run_copy, damage, capsys
):
    checkpoints = run_copy / "checkpoints"
    if damage == "data flipped":
        flip_bytes(next(checkpoints.glob("ckpt-6.data-*")))
    elif damage == "index truncated":
        index = checkpoints / "ckpt-6.index"
        index.write_bytes(index.read_bytes()[:10])
    else:
        (checkpoints / "ckpt-6.index").unlink()
    damaged = {
        p.name: fingerprints(checkpoints)[p.name] for p in checkpoint_files(run_copy, 6)
    }
    assert run_train(demo_shards, run_copy, "train.max_steps=8") == 0
    out = capsys.readouterr().out
    assert "skipped ckpt-6: " in out and f"kept in {checkpoints / 'damaged'}" in out
    assert f"resumed from {checkpoints / 'ckpt-4'} at step 4" in out
    assert "steps             4 -> 8 of 8" in out
    assert fingerprints(checkpoints / "damaged") == damaged  # untouched, set aside
    assert RunDirectory(run_copy).latest_checkpoint().endswith("ckpt-8")


def test_when_no_checkpoint_restores_the_run_refuses_to_start_over(
    demo_shards, run_copy, capsys
):
    for path in (run_copy / "checkpoints").glob("ckpt-*.data-*"):
        flip_bytes(path)
    before = fingerprints(run_copy)
    assert run_train(demo_shards, run_copy) == 2
    line = one_error_line(capsys)
    assert "none of its checkpoints restores" in line and "ckpt-6: " in line
    assert fingerprints(run_copy) == before


def test_a_second_trainer_on_a_held_directory_refuses_naming_the_holder(
    demo_shards, run_copy, capsys
):
    before = fingerprints(run_copy / "checkpoints")
    with RunDirectory(run_copy).locked():
        assert run_train(demo_shards, run_copy, "train.max_steps=8") == 2
    line = one_error_line(capsys)
    assert f"in use by pid {os.getpid()} on " in line
    assert fingerprints(run_copy / "checkpoints") == before


@pytest.mark.slow
def test_the_lock_of_a_killed_process_is_stale(demo_shards, run_copy, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from tfdeeplab.run_directory import RunDirectory\n"
            f"with RunDirectory(Path({str(run_copy)!r})).locked():\n"
            "    print('held', flush=True); time.sleep(300)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert f"pid {holder.pid} on" in (run_copy / "run.lock").read_text()
    assert run_train(demo_shards, run_copy, "train.max_steps=8") == 0
    assert "steps             6 -> 8 of 8" in capsys.readouterr().out


@pytest.mark.parametrize(
    "changes, keys",
    [
        (["model.output_stride=8"], ["model.output_stride: 16 -> 8"]),
        (
            ["data.crop_size=[65, 65]", "train.seed=3"],
            ["data.crop_size: [33, 33] -> [65, 65]", "train.seed: 0 -> 3"],
        ),
    ],
)
def test_resuming_with_another_recipe_is_refused_listing_the_keys(
    demo_shards, run_copy, changes, keys, capsys
):
    before = fingerprints(run_copy)
    assert run_train(demo_shards, run_copy, *changes) == 2
    line = one_error_line(capsys)
    assert "the run was trained with another recipe" in line
    for key in keys:
        assert key in line
    assert fingerprints(run_copy) == before  # recipe.yaml and checkpoints as they were


def test_keys_that_may_change_on_resume_change_with_a_note(
    demo_shards, run_copy, capsys
):
    assert (
        run_train(demo_shards, run_copy, "train.max_steps=7", "train.log_every=3") == 0
    )
    out = capsys.readouterr().out
    assert "note: resuming with train.max_steps: 6 -> 7" in out
    assert "note: resuming with train.log_every: 1 -> 3" in out
    assert "max_steps: 7" in (run_copy / "recipe.yaml").read_text()


def test_data_that_do_not_fit_the_model_are_refused_before_anything_is_built(
    demo_shards, tmp_path, capsys
):
    workdir = tmp_path / "run"
    assert (
        run_train(
            demo_shards, workdir, "data.dataset=cityscapes", "data.train_split=val"
        )
        == 2
    )
    line = one_error_line(capsys)
    manifest = demo_shards / "manifest.json"
    assert f"{manifest}: the shards hold dataset voc with 21 classes" in line
    assert "data.dataset cityscapes, model.num_classes 19" in line
    assert not workdir.exists()


def test_a_class_count_other_than_the_datasets_is_refused_as_the_recipe_loads(
    demo_shards, tmp_path, capsys
):
    workdir = tmp_path / "run"
    assert run_train(demo_shards, workdir, "model.num_classes=5") == 2
    line = one_error_line(capsys)
    assert line == (
        f"error: {RECIPE}: model.num_classes: expected 21, the voc dataset's, got 5 "
        "(leave it out to take the dataset's)"
    )
    assert not workdir.exists()


def test_an_interrupted_saves_temporary_directory_is_removed(
    demo_shards, run_copy, capsys
):
    leftover = run_copy / "checkpoints" / "ckpt-8_temp"
    leftover.mkdir()
    (leftover / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x" * 1000)
    assert run_train(demo_shards, run_copy, "train.max_steps=8") == 0
    assert "removed ckpt-8_temp, left by a save that was interrupted" in (
        capsys.readouterr().out
    )
    assert not leftover.exists()


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_no_partial_checkpoint(
    demo_shards, run_copy
):
    """Files of at most 1 MB (RLIMIT_FSIZE): every checkpoint write fails."""

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    before = fingerprints(run_copy / "checkpoints")
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfdeeplab.train",
            str(RECIPE),
            "--workdir",
            str(run_copy),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards, "train.max_steps=8"),
        ],
        preexec_fn=limit_file_size,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"},
    )
    assert finished.returncode == 2, finished.stderr[-3000:]
    lines = finished.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot write ckpt-8" in errors[0], finished.stderr
    assert "the newest checkpoint is still" in errors[0]
    assert fingerprints(run_copy / "checkpoints") == before
    assert not list((run_copy / "checkpoints").glob("*_temp*"))


@pytest.mark.parametrize("kind", ["npz", "h5"])
def test_garbage_initial_weights_are_one_line_naming_the_file(
    demo_shards, tmp_path, kind, capsys
):
    weights = tmp_path / ("start.npz" if kind == "npz" else "start.weights.h5")
    weights.write_bytes(np.random.default_rng(0).bytes(4096))
    assert (
        run_train(demo_shards, tmp_path / "run", f"train.init_weights={weights}") == 2
    )
    line = one_error_line(capsys)
    assert line.startswith(f"error: {weights}: not a")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_finished_run_run_again_says_so(demo_shards, run_copy, capsys):
    assert run_train(demo_shards, run_copy) == 0
    out = capsys.readouterr().out
    assert "the run was already complete at step 6 of 6" in out
    assert "nan" not in out


def test_the_demo_trains_in_the_recipes_default_run_directory(monkeypatch, tmp_path):
    """`python -m tfdeeplab.train recipes/demo.yaml` continues what the demo ran."""
    from tfdeeplab import demo
    from tfdeeplab.experiment import demo_job

    class Trained(Exception):
        pass

    workdirs = []

    def train(recipe, workdir, **kwargs):
        workdirs.append(workdir)
        raise Trained

    monkeypatch.setattr(
        demo_job,
        "write_demo_shards",
        lambda directory, *counts, size, log: directory / "s",
    )
    monkeypatch.setattr(demo_job, "train", train)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Trained):
        demo.main([])
    assert workdirs == [Path("runs") / "demo"]  # train's default: runs/<name>


@pytest.fixture
def shards_copy(demo_shards, tmp_path):
    copy = tmp_path / "shards"
    shutil.copytree(demo_shards, copy)
    return copy


def test_a_shard_of_the_wrong_size_is_refused_before_training(
    shards_copy, tmp_path, capsys
):
    shard = sorted(shards_copy.glob("train_aug-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated, as by a full disk
    assert run_train(shards_copy, tmp_path / "run") == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {shard}: ") and "bytes, manifest.json says" in line
    assert f"python -m tfrecords_tools.voc --out {shards_copy} --verify" in line
    assert not (tmp_path / "run").exists()


def test_a_corrupt_record_stops_with_a_checkpoint_and_names_its_shard(
    shards_copy, tmp_path, capsys
):
    shards = sorted(shards_copy.glob("train_aug-*.tfrecord"))
    victim = max(shards, key=lambda path: path.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) * 7 // 8] ^= 0xFF  # a record late in the shard: same size
    victim.write_bytes(bytes(data))
    workdir = tmp_path / "run"
    code = run_train(
        shards_copy, workdir, "train.max_steps=40", "train.checkpoint_every=100"
    )
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {victim}: unreadable record (")
    assert f"python -m tfrecords_tools.voc --out {shards_copy} --verify" in line
    stopped = int(line.rsplit("stopped after step ", 1)[1].split(",")[0])
    assert stopped >= 1, "the corrupt record was read before any step finished"
    assert RunDirectory(workdir).latest_checkpoint() == str(
        RunDirectory(workdir).checkpoint(stopped)
    )


def test_a_work_directory_that_cannot_be_written_is_one_line(demo_shards, capsys):
    workdir = Path("/sys/tfdeeplab-run")  # sysfs refuses new directories, even to root
    assert run_train(demo_shards, workdir) == 2
    assert one_error_line(capsys).startswith(f"error: {workdir}: ")
    assert not workdir.exists()
