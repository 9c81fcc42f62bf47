"""Unpack an archive whole or not at all, refusing members that would land outside.

Every member is checked before anything is written: no absolute name, no `..`, no
link (tar) pointing outside, no device or other special file. The archive is
extracted into a staging folder beside the target (`.unpacking-<archive>`), then
its top-level entries are moved into the target; a marker file records that the
archive was unpacked. Ctrl-C leaves only the staging folder, which the next run
removes (the project wrote it) before starting that archive again.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from tfdeeplab.errors import TfdeeplabError

STAGING_PREFIX = ".unpacking-"
MARKER_FOLDER = ".unpacked"


class UnpackError(TfdeeplabError):
    """An archive that cannot be unpacked safely; names the archive and member."""


def unpacked_marker(target: Path, archive: Path) -> Path:
    """The file that says `archive` was unpacked into `target`."""
    return target / MARKER_FOLDER / archive.name


def unpack(archive: Path, kind: str, target: Path) -> Path:
    """Unpack `archive` (`tar`, `tgz` or `zip`) into the folder `target`.

    Args:
        archive: Path. The archive file.
        kind: str. `tar`, `tgz` or `zip`.
        target: Path. The folder to unpack into (created); what the archive
            holds at its top lands directly in it, replacing an earlier unpack's.

    Returns:
        `target`.

    Raises:
        UnpackError: a member would land outside, is a special file, or the
            archive is unreadable; nothing is written into `target` then.

    Example:
        >>> unpack(Path("data/downloads/benchmark.tgz"), "tgz", Path("data/sbd"))
    """
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f"{STAGING_PREFIX}{archive.name}"
    if staging.exists():
        shutil.rmtree(staging)  # an interrupted unpack of ours
    staging.mkdir()
    try:
        if kind == "zip":
            _unzip(archive, staging)
        else:
            _untar(archive, "r:gz" if kind == "tgz" else "r:", staging)
        _move_into(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rmdir()
    marker = unpacked_marker(target, archive)
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(f"{archive.stat().st_size}\n")
    return target


def _checked_name(archive: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")):
        raise UnpackError(f"{archive}: member {name!r} would land outside the folder")
    return path


def _unzip(archive: Path, staging: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as opened:
            for info in opened.infolist():
                _checked_name(archive, info.filename)
                mode = info.external_attr >> 16
                if mode and (mode & 0o170000) == 0o120000:
                    raise UnpackError(f"{archive}: member {info.filename!r} is a link")
            opened.extractall(staging)
    except zipfile.BadZipFile as error:
        raise UnpackError(f"{archive}: not a readable zip ({error})") from None


def _untar(archive: Path, mode: str, staging: Path) -> None:
    try:
        with tarfile.open(archive, mode) as opened:
            members = opened.getmembers()
            for member in members:
                _checked_name(archive, member.name)
                if not (member.isfile() or member.isdir() or member.issym()
                        or member.islnk()):  # fmt: skip
                    raise UnpackError(
                        f"{archive}: member {member.name!r} is a special file"
                    )
                if member.issym() or member.islnk():
                    _check_link(archive, member)
            opened.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, EOFError) as error:  # FilterError is a TarError
        raise UnpackError(f"{archive}: not unpacked ({error})") from None


def _check_link(archive: Path, member: tarfile.TarInfo) -> None:
    base = PurePosixPath(member.name).parent
    link = PurePosixPath(member.linkname)
    resolved = link if member.islnk() else base / link
    depth = 0
    for part in resolved.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            break
    if link.is_absolute() or depth < 0:
        raise UnpackError(
            f"{archive}: member {member.name!r} links outside the folder "
            f"({member.linkname!r})"
        )


def _move_into(source: Path, target: Path) -> None:
    """Move `source`'s entries into `target`, merging folders that exist."""
    for entry in sorted(source.iterdir()):
        destination = target / entry.name
        if destination.is_dir() and entry.is_dir() and not destination.is_symlink():
            _move_into(entry, destination)
            entry.rmdir()
        else:
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            os.replace(entry, destination)
