"""`python -m tfdeeplab.train` as users run it: killed and resumed; two workers."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_overrides
from tfdeeplab.experiment.demo_job import RECIPE

# Every test here runs the training command in its own processes.
pytestmark = pytest.mark.slow

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"}


def train_command(shards, workdir, *more):
    return [
        sys.executable,
        "-m",
        "tfdeeplab.train",
        str(RECIPE),
        "--workdir",
        str(workdir),
        "--no-progress",
        "--set",
        *tiny_overrides(shards, *more),
    ]


def train_to_the_end(shards, workdir, *more) -> str:
    """Run the training command to completion; returns what it printed."""
    finished = subprocess.run(
        train_command(shards, workdir, *more),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def checkpoint_values(path):
    """Every saved value except the save counter, by checkpoint key."""
    return {
        name: tf.train.load_checkpoint(path).get_tensor(name)
        for name, _ in tf.train.list_variables(path)
        if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))
    }


# Steps of ~0.1 s or more, so a signal lands well before the run ends.
RESUME_SETTINGS = (
    "data.crop_size=[129, 129]",
    "train.batch_size=4",
    "train.max_steps=12",
    "train.checkpoint_every=3",
    "train.validation_images=1",
)


@pytest.fixture(scope="module")
def uninterrupted_end(demo_shards, tmp_path_factory):
    """The values of the last checkpoint of a run of RESUME_SETTINGS never stopped."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    train_to_the_end(demo_shards, workdir, *RESUME_SETTINGS)
    return checkpoint_values(str(workdir / "checkpoints" / "ckpt-12"))


def assert_same_values(got, expected):
    assert expected.keys() == got.keys()
    assert any(name.startswith("optimizer/") for name in got)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def wait_for(condition, process, what, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.02)


def test_a_run_killed_after_a_checkpoint_resumes_there_and_ends_as_an_uninterrupted_one(
    demo_shards, tmp_path, uninterrupted_end
):
    killed = tmp_path / "killed"
    index = killed / "checkpoints" / "checkpoint"
    process = subprocess.Popen(
        train_command(demo_shards, killed, *RESUME_SETTINGS),
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: index.is_file() and "ckpt-" in index.read_text(), process, "checkpoint"
    )
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    latest = tf.train.latest_checkpoint(str(killed / "checkpoints"))
    killed_at = int(latest.rsplit("-", 1)[1])
    assert killed_at in (3, 6, 9), "the run finished before it was killed"

    resumed = train_to_the_end(demo_shards, killed, *RESUME_SETTINGS)
    assert f"at step {killed_at}" in resumed
    assert re.search(rf"steps\s+{killed_at} -> 12 of 12", resumed)
    got = checkpoint_values(str(killed / "checkpoints" / "ckpt-12"))
    assert_same_values(got, uninterrupted_end)


def test_sigterm_checkpoints_the_step_it_stops_at_and_the_run_continues_there(
    demo_shards, tmp_path, uninterrupted_end
):
    # No periodic checkpoints: the only one before the end is the one SIGTERM makes.
    settings = (*RESUME_SETTINGS, "train.checkpoint_every=100")
    stopped, log = tmp_path / "stopped", tmp_path / "stdout.txt"
    with open(log, "w") as stdout:
        process = subprocess.Popen(
            train_command(demo_shards, stopped, *settings),
            env={**ENV, "PYTHONUNBUFFERED": "1"},
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: "step 2/12" in log.read_text(), process, "second step")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
    printed = log.read_text()
    stop = re.search(
        r"SIGTERM received: stopped after step (\d+) with a checkpoint", printed
    )
    assert stop, printed[-2000:]
    stopped_at = int(stop[1])
    assert 2 <= stopped_at < 12
    assert re.search(
        rf"steps\s+0 -> {stopped_at} of 12 \(stopped by SIGTERM\)", printed
    )
    latest = tf.train.latest_checkpoint(str(stopped / "checkpoints"))
    assert latest.endswith(f"ckpt-{stopped_at}")

    resumed = train_to_the_end(demo_shards, stopped, *settings)
    assert re.search(rf"steps\s+{stopped_at} -> 12 of 12", resumed)
    got = checkpoint_values(str(stopped / "checkpoints" / "ckpt-12"))
    assert_same_values(got, uninterrupted_end)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_in_sync_and_only_the_chief_writes(demo_shards, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(
            subprocess.Popen(
                train_command(
                    demo_shards,
                    tmp_path / "run",
                    "train.distribution=multi_worker",
                    "train.max_steps=3",
                    "model.batch_norm=frozen",  # `train` BN statistics are per replica
                ),
                env={**ENV, "TF_CONFIG": json.dumps(config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=500) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    summaries = [out for out, _ in outputs]
    for out in summaries:
        assert re.search(r"replicas\s+2 \(global batch 4\)", out), out
        assert re.search(r"steps\s+0 -> 3 of 3", out), out
    fingerprints = [re.search(r"weights\s+(\w+)", out)[1] for out in summaries]
    assert fingerprints[0] == fingerprints[1]
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert "ckpt-3.index" in checkpoints
    assert "validation" in summaries[0] and "validation" not in summaries[1]
