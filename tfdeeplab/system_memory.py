"""How much memory this process may still take: the machine's and its cgroup's."""

from __future__ import annotations

from pathlib import Path


def _meminfo_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> float | None:
    """cgroup v2's limit minus its usage, if this process runs under a limit."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return float(limit) - float((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_memory() -> float | None:
    """Bytes of memory this process may still allocate; None where unknown.

    Example:
        >>> available_memory() > 1e9
        True
    """
    known = [
        value
        for value in (_meminfo_available(), _cgroup_available())
        if value is not None
    ]
    return min(known) if known else None
