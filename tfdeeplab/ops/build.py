"""Compile and load the project's custom TensorFlow ops, once per source and TF build.

Each op keeps its C++ source beside its Python wrapper. `load_op_library` compiles
the source with the flags of the installed TensorFlow (`tf.sysconfig`) into a cache
directory the first time it is needed, then loads it. Nothing is downloaded; the only
requirement is a C++17 compiler (`g++`, or `$CXX`).

The cache is `$TFDEEPLAB_OP_CACHE`, else `~/.cache/tfdeeplab/ops`; the library's name
includes a hash of the source, the flags and the TensorFlow version, so an edit or an
upgrade builds anew, and concurrent builders never see a half-written library.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import tensorflow as tf


class OpBuildError(RuntimeError):
    """A custom op that could not be compiled; the message has the compiler's output."""


def _cache_dir() -> Path:
    configured = os.environ.get("TFDEEPLAB_OP_CACHE")
    return (
        Path(configured) if configured else Path.home() / ".cache" / "tfdeeplab" / "ops"
    )


def _compiler() -> str:
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        raise OpBuildError(f"no C++ compiler: {compiler!r} is not on PATH (set $CXX)")
    return compiler


def build_op_library(source: Path) -> Path:
    """Compile `source` into a shared library in the cache (if not there yet).

    Args:
        source: Path. A C++ file registering ops and kernels.

    Returns:
        Path of the compiled library.

    Raises:
        OpBuildError: when there is no compiler or compilation fails.
    """
    flags = [
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-O3",
        *tf.sysconfig.get_compile_flags(),
        *tf.sysconfig.get_link_flags(),
    ]
    digest = hashlib.sha256(
        source.read_bytes() + " ".join(flags).encode() + tf.__version__.encode()
    ).hexdigest()[:16]
    target = _cache_dir() / f"{source.stem}-{digest}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        partial = Path(scratch) / target.name
        command = [_compiler(), str(source), "-o", str(partial), *flags]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise OpBuildError(
                f"compiling {source.name} failed:\n{result.stderr[-4000:]}"
            )
        os.replace(partial, target)
    return target


@functools.cache
def load_op_library(source: str):
    """The loaded op module of a C++ source file (compiled on first use).

    Args:
        source: str. Path of the .cc file.

    Returns:
        The module `tf.load_op_library` returns; its ops are attributes in snake case.

    Raises:
        OpBuildError: when the library cannot be built.

    Example:
        >>> ops = load_op_library(str(Path(__file__).parent / "crop_resample_op.cc"))
        >>> crop = ops.tfdeeplab_crop_resample(window, rows, cols, rows_ok, cols_ok, m)
    """
    return tf.load_op_library(str(build_op_library(Path(source))))
