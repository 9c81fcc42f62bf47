"""Evaluation under faults: a dead CRF worker, a corrupt shard.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import os
import shutil

import numpy as np
import pytest

from tests.helpers import one_error_line, tiny_overrides
from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab.experiment.demo_job import RECIPE


def test_a_dead_crf_worker_names_the_image_id_only(tiny_model_config, monkeypatch):
    import signal

    import tensorflow as tf

    from tfdeeplab.evaluation import crf_pool
    from tfdeeplab.evaluation.crf_pool import CrfWorkerError
    from tfdeeplab.evaluation.evaluator import evaluate_split
    from tfdeeplab.evaluation.inference import InferenceSettings
    from tfdeeplab.models import build_model

    submit = crf_pool.CrfPool.submit

    def submit_then_kill(pool, *args):
        future = submit(pool, *args)
        future.result()
        for process in list(pool._executor._processes.values()):
            os.kill(process.pid, signal.SIGKILL)  # as the kernel's OOM killer does
        return submit(pool, *args)

    monkeypatch.setattr(crf_pool.CrfPool, "submit", submit_then_kill)
    image = np.zeros((40, 40, 3), np.float32)
    examples = tf.data.Dataset.from_tensors(
        {
            "image": image,
            "rgb": image.astype(np.uint8),
            "label": np.zeros((40, 40), np.int32),
            "id": "2007_000042",
        }
    )
    with pytest.raises(CrfWorkerError) as raised:
        evaluate_split(
            build_model(tiny_model_config),
            examples,
            InferenceSettings(),
            5,
            crf={"iterations": 1},
            crf_workers=1,
            progress=False,
        )
    message = str(raised.value)
    assert "2007_000042" in message and len(message) < 200 and "\n" not in message


def test_evaluate_names_a_corrupt_shard_and_the_verify_command(
    demo_shards, tmp_path, trained_run, capsys
):
    shards = tmp_path / "shards"
    shutil.copytree(demo_shards, shards)
    shard = next(shards.glob("val-*.tfrecord"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    code = evaluate_cli.main(
        [
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--no-progress",
            "--set",
            *tiny_overrides(shards),
        ]
    )
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {shard}: unreadable record")
    assert f"python -m tfrecords_tools.voc --out {shards} --verify" in line
