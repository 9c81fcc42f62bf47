"""The op cache: compile and load the project's custom TensorFlow ops, once per
source and TF build (`python -m tfdeeplab.ops.build` fills it ahead of time).

Every op lives in its own folder, `tfdeeplab/ops/<name>/`: its pure-TensorFlow
reference (`reference.py`), the loader and wrappers of its kernels (`kernel.py`), its
C++ sources (every `*.cc` there, and the `*.h` they share) and its CUDA sources
(`*.cu`), side by side. `load_op(name)` compiles the C++ sources with the flags of
the installed TensorFlow (`tf.sysconfig`) into one shared library in a cache
directory the first time it is needed, then loads it. Nothing is downloaded; the
only requirement is a C++17 compiler (`g++`, or `$CXX`). GPU kernels are registered
by the same library, which links no CUDA library; their CUDA code is compiled by
NVRTC for the GPU found (`tfdeeplab.ops.cuda_compile`), no CUDA toolkit needed.

The cache is `$TFDEEPLAB_OP_CACHE`, else `~/.cache/tfdeeplab/ops`; the library's name
includes a hash of the sources, the flags, the TensorFlow version and the CPU (the
library is compiled for this machine's instruction set), so an edit, an upgrade or
another CPU builds anew, and concurrent builders never see a half-written library.
Each build records the library's size and sha256 beside it (`.so.sha256`); a cached
library that does not match (cut short by a full disk or a killed copy: loading it
would kill the process with SIGBUS) is built again, with one warning. A cache that
cannot be written is one line, and the ops fall back to their TensorFlow references. A
process tries each op once: a build that failed (no compiler, a compile error) is
remembered, so asking again costs nothing and logs nothing more.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tfdeeplab.atomic_files import atomic_path, write_text
from tfdeeplab.errors import TfdeeplabError

OPS_DIRECTORY = Path(__file__).resolve().parent
_log = logging.getLogger(__name__)


class OpBuildError(TfdeeplabError, RuntimeError):
    """A custom op that could not be built or loaded; the message says why in one
    line, `details` holds the compiler's whole output."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


def first_error_line(output: str) -> str:
    """The compiler's first line that reports an error (else its first line).

    Example:
        >>> first_error_line("a.cc: In function 'f':\na.cc:3:1: error: 'x' ...")
        "a.cc:3:1: error: 'x' ..."
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no output)"])[0]


def cache_dir() -> Path:
    """The op cache: `$TFDEEPLAB_OP_CACHE`, else `~/.cache/tfdeeplab/ops`."""
    configured = os.environ.get("TFDEEPLAB_OP_CACHE")
    return (
        Path(configured) if configured else Path.home() / ".cache" / "tfdeeplab" / "ops"
    )


def _compiler() -> str:
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        raise OpBuildError(f"no C++ compiler: {compiler!r} is not on PATH (set $CXX)")
    return compiler


def _cpu_description() -> str:
    """The CPU's model and instruction-set flags (`-march=native` depends on them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        import platform

        return platform.processor() + platform.machine()
    wanted = ("model name", "flags")
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    return "\n".join(sorted(set(lines)))


def op_sources(name: str) -> list[Path]:
    """The C++ sources of op `name`: every `*.cc` in `tfdeeplab/ops/<name>/`.

    Example:
        >>> [path.name for path in op_sources("crop_resample")]
        ['crop_resample_op.cc']
    """
    return sorted((OPS_DIRECTORY / name).glob("*.cc"))


def _headers_beside(sources: Sequence[Path]) -> list[Path]:
    """The `*.h` files in the sources' folders (they include them by name)."""
    folders = sorted({source.parent for source in sources})
    return [header for folder in folders for header in sorted(folder.glob("*.h"))]


def build_op_library(sources: Sequence[Path], name: str) -> Path:
    """Compile `sources` into one shared library in the cache (if not there yet).

    Args:
        sources: sequence of Path. C++ files registering ops and kernels.
        name: str. The library's name (the op's folder name).

    Returns:
        Path of the compiled library.

    Raises:
        OpBuildError: when there are no sources, no compiler, or compilation fails.

    Example:
        >>> build_op_library(op_sources("crop_resample"), "crop_resample")
    """
    import tensorflow as tf  # here, so a command starts TensorFlow first (quietly)

    if not sources:
        raise OpBuildError(f"{name}: no C++ sources")
    flags = [
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-O3",
        # This machine's vector instructions (the library is built where it runs,
        # and the cache key includes the CPU), without contracting a * b + c into
        # FMAs, so results stay those of the plain arithmetic.
        "-march=native",
        "-ffp-contract=off",
        *tf.sysconfig.get_compile_flags(),
        *tf.sysconfig.get_link_flags(),
    ]
    digest = hashlib.sha256()
    for source in [*sources, *_headers_beside(sources)]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    digest.update(" ".join(flags).encode() + tf.__version__.encode())
    digest.update(_cpu_description().encode())
    target = cache_dir() / f"{name}-{digest.hexdigest()[:16]}.so"
    if usable_cache_entry(target):
        return target
    return write_cache_entry(target, lambda partial: _compile(sources, partial, flags))


def usable_cache_entry(path: Path) -> bool:
    """True when `path` is in the cache whole; a cut or changed entry is removed,
    with one warning, so the caller builds it again."""
    if not path.is_file():
        return False
    problem = cached_file_problem(path)
    if not problem:
        return True
    _log.warning("%s: %s; building it again", path, problem)
    path.unlink(missing_ok=True)
    return False


def write_cache_entry(path: Path, write) -> Path:
    """Write a cache entry whole or not at all: `write(temporary)` fills a
    temporary, its size and sha256 are recorded beside `path`, then it is renamed.

    Raises:
        OpBuildError: the cache cannot be written (one line); or what `write`
            raises.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial:
            write(partial)
            write_text(record_of(path), file_record(partial) + "\n")
    except OSError as error:  # an unwritable or full cache, a file in the way
        raise OpBuildError(
            f"op cache {path.parent}: cannot write it ({error.strerror or error}); "
            "set TFDEEPLAB_OP_CACHE to a writable folder"
        ) from None
    return path


def record_of(path: Path) -> Path:
    """The file beside a cached build output recording its size and sha256."""
    return path.with_name(path.name + ".sha256")


def file_record(path: Path) -> str:
    """`<size> <sha256>` of a file, as `record_of` holds it."""
    return f"{path.stat().st_size} {hashlib.sha256(path.read_bytes()).hexdigest()}"


def cached_file_problem(path: Path) -> str:
    """Why a cached build output must not be used (cut short, changed, unrecorded),
    or the empty string. Loading a truncated library kills the process (SIGBUS).

    Example:
        >>> cached_file_problem(Path("~/.cache/tfdeeplab/ops/x.so").expanduser())
        'no record of its size and sha256 from its build'
    """
    try:
        recorded = record_of(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return "no record of its size and sha256 from its build"
    if recorded != file_record(path):
        return "its size or sha256 differs from its build (a cut copy?)"
    return ""


def _compile(sources, partial: Path, flags) -> None:
    """Compile into `partial` (the caller records it and moves it into place)."""
    command = [_compiler(), *map(str, sources), "-o", str(partial), *flags]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        names = ", ".join(source.name for source in sources)
        raise OpBuildError(
            f"compiling {names} failed: {first_error_line(result.stderr)}",
            details=result.stderr,
        )


@functools.cache
def _build_and_load(name: str, sources: tuple[Path, ...]):
    """(module, None) or (None, why): a failure is remembered like a success."""
    import tensorflow as tf

    try:
        return tf.load_op_library(str(build_op_library(sources, name))), None
    except OpBuildError as error:
        problem = str(error)
    except tf.errors.NotFoundError as error:  # e.g. an undefined symbol
        problem = f"loading the {name} library failed: {error.message}"
    _log.warning("%s kernels unavailable, using TensorFlow ops: %s", name, problem)
    return None, problem


def load_op(name: str, sources: Sequence[Path] | None = None):
    """The loaded op module of op `name` (built on first use).

    Args:
        name: str. The op's folder under `tfdeeplab/ops/`.
        sources: sequence of Path or None. Its C++ sources; defaults to
            `op_sources(name)`.

    Returns:
        The module `tf.load_op_library` returns; its ops are attributes in snake case.

    Raises:
        OpBuildError: when the library cannot be built or loaded (also on every
            later call in this process, without building again).

    Example:
        >>> ops = load_op("crop_resample")
        >>> crop = ops.tfdeeplab_crop_resample(window, rows, cols, rows_ok, cols_ok, m)
    """
    module, problem = _build_and_load(name, tuple(sources or op_sources(name)))
    if module is None:
        raise OpBuildError(problem)
    return module


def op_available(name: str, sources: Sequence[Path] | None = None) -> bool:
    """True when op `name`'s kernels are built (building them now if needed).

    The first failure in a process logs a warning with the reason; later calls
    return False at once.

    Example:
        >>> use_kernel = op_available("crop_resample")
    """
    try:
        load_op(name, sources)
    except OpBuildError:
        return False
    return True


def project_ops() -> list[str]:
    """Every op folder under `tfdeeplab/ops/` that has C++ sources.

    Example:
        >>> project_ops()
        ['crop_resample', 'deformable_conv']
    """
    return sorted(
        path.name
        for path in OPS_DIRECTORY.iterdir()
        if path.is_dir() and op_sources(path.name)
    )


def cuda_sources(name: str) -> list[Path]:
    """The CUDA sources of op `name`: every `*.cu` in `tfdeeplab/ops/<name>/`
    (compiled by NVRTC, see `tfdeeplab.ops.cuda_compile`).

    Example:
        >>> [path.name for path in cuda_sources("deformable_conv")]
        ['deformable_conv_kernels.cu']
    """
    return sorted((OPS_DIRECTORY / name).glob("*.cu"))
