"""What the single-file formats (`.tflite`, `.onnx`) share: their rules for `--out`,
their one-line errors, and running a written file in its own runtime.

- `--out` must end in the format's suffix. An existing file is replaced only with
  `force`, and only when it is a model of that format: `force` never replaces
  anything else (a checkpoint, a photo). A folder in the way is refused.
- The file is written whole or not at all (`atomic_files`).
- `run_in_runtime(path)` runs `runtime_check.py` as a script in a fresh, isolated
  Python process: the file loads and runs where tfdeeplab and TensorFlow are not
  imported, or the export says why not in one line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from tfdeeplab.atomic_files import OutputError, write_bytes
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.export.formats import MODEL_NAMES, SUFFIXES
from tfdeeplab.export.saved_model import ExportExistsError

RUNTIME_CHECK = Path(__file__).with_name("runtime_check.py")


class FormatError(TfdeeplabError, ValueError):
    """A model or option an export format cannot carry (one line naming it)."""


class MissingPackageError(TfdeeplabError, ImportError):
    """A package one export format needs is not installed (the pip command named)."""


class RuntimeCheckError(TfdeeplabError, RuntimeError):
    """A written file that does not load or run in its runtime."""


def require_package(module: str, needed_by: str, pip: str) -> None:
    """Refuse, in one line with the pip command, when `module` is missing.

    Example:
        >>> require_package("tf2onnx", "--format onnx", "tf2onnx onnxruntime")
    """
    if importlib.util.find_spec(module) is None:
        raise MissingPackageError(
            f"{needed_by} needs the {module} package, which is not installed: "
            f"pip install {pip}"
        )


def check_model_file(out: Path, format_name: str, force: bool, is_model) -> None:
    """Refuse an `--out` the export may not write (before any work).

    Args:
        out: Path. The file to write.
        format_name: str. `tflite` or `onnx`.
        force: bool. Replace an existing model of this format.
        is_model: function (path) -> bool, whether a file is one.

    Raises:
        FormatError: the suffix is not the format's.
        ExportExistsError: a folder in the way; a file without `force`; with
            `force`, a file that is not a model of this format.
    """
    suffix = SUFFIXES[format_name]
    if out.suffix != suffix:
        raise FormatError(f"`out` {out}: a {format_name} export is a {suffix} file")
    if out.is_dir():
        raise ExportExistsError(f"{out} is a folder; choose a {suffix} file for `out`")
    existing = out.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: cannot write it ({existing} is not writable)")
    if not out.exists():
        return
    if not is_model(out):
        raise ExportExistsError(
            f"{out} exists and is not {MODEL_NAMES[format_name]}; `force=True` "
            "replaces only one: choose another `out`"
        )
    if not force:
        raise ExportExistsError(
            f"{out} exists; pass `force=True` to replace it or choose another `out`"
        )


def write_model_file(out: Path, data: bytes) -> Path:
    """Write `data` to `out` (its folders made), whole or not at all."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{out}: cannot write it ({error.strerror})") from None
    return write_bytes(out, data)


def run_in_runtime(path: Path, *arguments: str, timeout: float = 600) -> dict:
    """Run `path` in its runtime in a fresh process; what `runtime_check` printed.

    Args:
        path: Path. A `.tflite` or `.onnx` file.
        *arguments: more `runtime_check.py` options (`--image`, `--outputs`,
            `--repeats`).
        timeout: float. Seconds.

    Raises:
        RuntimeCheckError: the file does not load or run (the runtime's last
            line).

    Example:
        >>> run_in_runtime(Path("voc.tflite"))["runtime"]
        'LiteRT 2.3.0'
    """
    command = [sys.executable, "-I", str(RUNTIME_CHECK), str(path), *arguments]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeCheckError(
            f"{path}: its runtime ran past {timeout:.0f} s"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise RuntimeCheckError(f"{path}: does not run in its runtime: {reason}")
    return json.loads(done.stdout.strip().splitlines()[-1])
