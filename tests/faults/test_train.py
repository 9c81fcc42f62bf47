"""Training under faults: a checkpoint cut short, shards without a manifest.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import shutil

import pytest

from tests.helpers import cut, fingerprints, train_command


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_training_skips_a_cut_short_checkpoint_and_keeps_it(
    demo_shards, run_copy, keep, capsys
):
    checkpoints = run_copy / "checkpoints"
    cut(next(checkpoints.glob("ckpt-6.data-*")), keep)
    damaged = {
        name: digest
        for name, digest in fingerprints(checkpoints).items()
        if name.startswith("ckpt-6.")
    }
    assert train_command(demo_shards, run_copy, "train.max_steps=8") == 0
    out = capsys.readouterr().out
    assert "skipped ckpt-6: ckpt-6.data-00000-of-00001 is cut short" in out
    assert f"resumed from {checkpoints / 'ckpt-4'} at step 4" in out
    assert fingerprints(checkpoints / "damaged") == damaged


def test_training_on_shards_without_a_manifest_says_so(demo_shards, tmp_path, capsys):
    shards = tmp_path / "shards"
    shutil.copytree(demo_shards, shards)
    (shards / "manifest.json").unlink()
    assert train_command(shards, tmp_path / "run", "train.max_steps=1") == 0
    assert (
        f"note: {shards} has no manifest.json: its shards are read as found, unchecked"
    ) in capsys.readouterr().out
