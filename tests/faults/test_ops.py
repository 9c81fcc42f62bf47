"""The op cache and its command under faults: an unwritable cache, a cut library.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import os

import pytest

from tests.helpers import UNWRITABLE, cut


@pytest.mark.parametrize("cache", ["a file", "unwritable"])
def test_an_op_cache_that_cannot_be_written_falls_back_with_one_warning(
    tmp_path, cache
):
    import subprocess
    import sys

    location = tmp_path / "cache" if cache == "a file" else UNWRITABLE / "ops"
    if cache == "a file":
        location.write_text("")
    code = (
        "import numpy as np; from tfdeeplab.ops.deformable_conv import "
        "deformable_conv2d, deformable_conv_available; "
        "print('available', deformable_conv_available()); "
        "x = np.ones([1, 5, 5, 2], 'float32'); "
        "y = deformable_conv2d(x, np.zeros([1, 5, 5, 18], 'float32'), "
        "np.ones([3, 3, 2, 1], 'float32'), padding=1); print('shape', y.shape)"
    )
    environment = {
        **os.environ,
        "TFDEEPLAB_OP_CACHE": str(location),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    finished = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    assert "available False" in finished.stdout and "(1, 5, 5, 1)" in finished.stdout
    warnings = [line for line in finished.stderr.splitlines() if "op cache" in line]
    assert len(warnings) == 1 and "set TFDEEPLAB_OP_CACHE" in warnings[0], (
        finished.stderr
    )


def test_a_cut_cached_op_library_is_rebuilt_not_loaded(tmp_path, monkeypatch, caplog):
    import logging

    from tfdeeplab.ops import op_cache

    monkeypatch.setenv("TFDEEPLAB_OP_CACHE", str(tmp_path / "cache"))
    sources = op_cache.op_sources("crop_resample")
    library = op_cache.build_op_library(sources, "crop_resample")
    whole = library.read_bytes()
    cut(library, 0.3)  # loading this would kill the process with SIGBUS
    with caplog.at_level(logging.WARNING, logger=op_cache.__name__):
        again = op_cache.build_op_library(sources, "crop_resample")
    assert again == library and library.read_bytes() == whole
    assert any("size or sha256 differs" in record.message for record in caplog.records)


def test_the_build_commands_help_is_help(capsys):
    from tfdeeplab.ops.build import main

    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    assert "usage: python -m tfdeeplab.ops.build" in capsys.readouterr().out
