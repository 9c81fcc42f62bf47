"""An exclusive lock on a directory, held by one process at a time.

An advisory `flock` on a small file that names its holder (pid and host). The system
releases it when the holder exits in any way, so the lock of a process that was
killed is never in the way; the file itself stays. Used by run directories (one
trainer each) and converter outputs (one converter each).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError


class LockHeldError(TfdeeplabError, RuntimeError):
    """Another process holds the lock; the message names it and what to do."""


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold the lock file `path` while the block runs.

    Args:
        path: Path. The lock file; its directory must exist.
        what: str. What is locked, for the message (e.g. the directory).

    Raises:
        LockHeldError: another process holds it (one line naming the holder).
        OSError: the lock file cannot be created.

    Example:
        >>> with exclusive_lock(out / ".lock", str(out)):
        ...     write_shards()
    """
    import fcntl

    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockHeldError(
                f"{what}: in use by {holder}; wait for it to end or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
