"""Writing a file or a folder whole or not at all: the project's one way to do it.

Everything is written under a hidden temporary name beside its destination,
`.NAME.partial-PID-RANDOM.SUFFIX` (the destination's suffix by default, for writers
that read the format from it), and renamed into place when complete, so a reader sees
the old file or the new one, never half of one; a failure (a full disk, Ctrl-C)
removes the temporary. A process killed mid-write cannot clean up: the next write
to the same destination removes the temporaries of writers that are no longer
running (`remove_stale_partials`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError

PARTIAL = ".partial-"


class OutputError(TfdeeplabError, OSError):
    """An output that cannot be written (no folder, no permission, a full disk);
    the message names the output. Nothing of it was left behind."""


def _partial_prefix(path: Path) -> str:
    """The name every temporary of `path` starts with: `.NAME.partial-`."""
    return f".{path.name}{PARTIAL}"


def _writer_alive(name: str, prefix: str) -> bool:
    pid_text = name[len(prefix) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's running process
        return True
    return True


def remove_stale_partials(path: Path, name: str | None = None) -> list[Path]:
    """Remove the temporaries of `path` left by writers that are not running.

    Args:
        path: Path. The destination whose temporaries to look for.
        name: str or None. A glob pattern of destination names in `path`'s folder
            instead of `path`'s own name (`val-*-of-*.tfrecord`: every shard's).

    Returns:
        The temporaries removed.

    Example:
        >>> remove_stale_partials(Path("runs/demo/saved_model"))
        [PosixPath('runs/demo/.saved_model.partial-4242-x1y2')]
    """
    removed = []
    if not path.parent.is_dir():
        return removed
    pattern = f".{name or glob.escape(path.name)}{PARTIAL}*"
    for candidate in sorted(path.parent.glob(pattern)):
        prefix = candidate.name[: candidate.name.index(PARTIAL) + len(PARTIAL)]
        if _writer_alive(candidate.name, prefix):
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, directory: bool = False, suffix: str | None = None
) -> Iterator[Path]:
    """A temporary path to write `path`'s content to; renamed to `path` at the end.

    Args:
        path: str or PathLike. The destination (its folder must exist).
        directory: bool. Make the temporary a folder (for a SavedModel, say). An
            existing `path` is replaced by it (`_replace_directory`): the caller
            decides whether it may be.
        suffix: str or None. The temporary file's suffix; None for `path`'s own
            (for writers that read the format from it), "" for none (a shard's
            temporary then matches no `*.tfrecord` glob).

    Yields:
        Path of the temporary, in the destination's folder.

    Raises:
        OutputError: the destination's folder is missing, a folder stands where
            a file should go, or the system refuses the write (one line naming
            `path`); the temporary is removed.

    Example:
        >>> with atomic_path("eval.json") as temporary:
        ...     temporary.write_text(text)
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write it: {path.parent} is not a folder")
    if path.is_dir() and not directory:
        raise OutputError(f"{path}: cannot write it: a folder is in the way")
    remove_stale_partials(path)
    prefix = f"{_partial_prefix(path)}{os.getpid()}-"
    try:
        if directory:
            temporary = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
            os.chmod(temporary, 0o777 & ~_umask())  # mkdtemp's is 0700
        else:
            handle, name = tempfile.mkstemp(
                prefix=prefix,
                suffix=path.suffix if suffix is None else suffix,
                dir=path.parent,
            )
            os.close(handle)
            temporary = Path(name)
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's is 0600
    except OSError as error:
        raise OutputError(f"{path}: cannot write it ({_reason(error)})") from None
    try:
        yield temporary
        if directory:
            _replace_directory(temporary, path)
        else:
            os.replace(temporary, path)
    except OSError as error:
        if isinstance(error, TfdeeplabError):
            raise
        raise OutputError(f"{path}: cannot write it ({_reason(error)})") from None
    finally:
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def _umask() -> int:
    """The process' umask, read without changing it where the system says it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _replace_directory(new: Path, out: Path) -> None:
    """Move the folder `new` to `out`; an old `out` is removed only after the move."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.with_name(f"{_partial_prefix(out)}{os.getpid()}-old")
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(temporary)` and rename the temporary to `path`.

    Example:
        >>> write_atomically("curves.png", lambda p: figure.savefig(p, format="png"))
    """
    with atomic_path(path) as temporary:
        write(temporary)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path`, whole or not at all."""
    return write_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path`, whole or not at all."""
    return write_atomically(path, lambda p: p.write_bytes(data))


def write_json(path: str | os.PathLike, record, *, sort_keys: bool = False) -> Path:
    """Write `record` as indented JSON to `path`, whole or not at all.

    Example:
        >>> write_json(Path("runs/demo/eval.json"), {"miou": 0.75})
    """
    return write_text(path, json.dumps(record, indent=2, sort_keys=sort_keys) + "\n")
