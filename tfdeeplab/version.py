"""The version a run can be cited by: the package's, and in a clone its commit.

`python -m tfdeeplab --version` prints `version_line()`; every training run logs it
first and the resolved recipe a run, an export or a comparison writes carries it in
its header, so a result names the code that made it.
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

# The clone's root when the package runs from one (an editable install); an
# installed wheel has no `.git` beside it.
_SOURCE_ROOT = Path(__file__).resolve().parents[1]
_COMMIT_DIGITS = 12


def package_version() -> str:
    """The installed distribution's version, else the source's `__version__`.

    Example:
        >>> package_version()
        '0.1.0'
    """
    try:
        return metadata.version("tfdeeplab")
    except metadata.PackageNotFoundError:
        from tfdeeplab import __version__

        return __version__


@functools.cache
def source_commit() -> str | None:
    """The clone's commit (12 hex digits, `+changes` when tracked files differ
    from it), or None outside a clone or without git.

    Example:
        >>> source_commit()
        '9583501a2b3c+changes'
    """
    if not (_SOURCE_ROOT / ".git").exists():
        return None
    try:
        commit = _git("rev-parse", "HEAD")
        changes = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit[:_COMMIT_DIGITS] + ("+changes" if changes else "")


def _git(*arguments: str) -> str:
    finished = subprocess.run(
        ["git", "-C", str(_SOURCE_ROOT), *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return finished.stdout.strip()


def version_line() -> str:
    """`tfdeeplab VERSION`, with `(commit C)` in a clone.

    Example:
        >>> version_line()
        'tfdeeplab 0.1.0 (commit 9583501a2b3c)'
    """
    commit = source_commit()
    line = f"tfdeeplab {package_version()}"
    return f"{line} (commit {commit})" if commit else line
