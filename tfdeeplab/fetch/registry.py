"""The artifact registry: which files make each dataset or weight file, their sizes,
hashes, URLs and layouts, read from a YAML file of data (`registry.yaml` here, or a
lab's own through `--registry FILE`).

Every problem is one line naming the file, the key path and what was expected, as for
recipes (`config.loader`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

from tfdeeplab.config.loader import UniqueKeyLoader
from tfdeeplab.errors import TfdeeplabError

SHIPPED_REGISTRY = Path(__file__).resolve().parent / "registry.yaml"
ACCESS = ("open", "login", "browser")
UNPACK = ("tar", "tgz", "zip")
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}


class RegistryError(TfdeeplabError, ValueError):
    """A registry file that cannot be used; the message names file, key and why."""


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of an artifact.

    Args:
        name: str. Its file name (no folders): what it is saved as, and what
            `--mirror URL` and `--from DIR` look for.
        urls: tuple of str. Where to download it, in order.
        size: int or None. Its size in bytes, where published.
        sha256, md5: str or None. Its hashes, where published (sha256 checked
            when both are known).
        unpack: str or None. `tar`, `tgz` or `zip`; None keeps the file as is.
        place: str or None. For a file kept as is: its path inside the layout's
            root folder (default: its name).
        package_id: int or None. Its cityscapesscripts package (login access).
    """

    name: str
    urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    unpack: str | None = None
    place: str | None = None
    package_id: int | None = None

    @property
    def known_hash(self) -> str | None:
        """`sha256:HEX` or `md5:HEX` (the strongest published), or None."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        return f"md5:{self.md5}" if self.md5 else None


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A dataset or a weight file: what `fetch NAME` brings.

    Args:
        name: str. The registry key (`voc2012`).
        description: str. One line.
        access: str. `open`, `login` or `browser` (see `registry.yaml`).
        licence: str. Its licence note.
        layout: str. The folder it becomes under `DATA/<name>` (the one its
            converter or importer takes), relative; `.` is `DATA/<name>` itself.
        files: tuple of RemoteFile.
        next: str. The command that takes it, with `{name}` for where an
            artifact ended up.
        page: str. Where a person downloads it (browser access).
        pin: str or None. A weight format (`mxnet`, `caffe`): a file with no
            published hash is checked by its structure, then its sha256 pinned.
    """

    name: str
    description: str
    access: str
    licence: str
    layout: str
    files: tuple[RemoteFile, ...]
    next: str = ""
    page: str = ""
    pin: str | None = None

    @property
    def size(self) -> int | None:
        """The bytes of every file, or None when a size is not published."""
        sizes = [remote.size for remote in self.files]
        return None if None in sizes else sum(sizes)


def load_registry(path: str | Path | None = None) -> dict[str, Artifact]:
    """Read and check a registry file.

    Args:
        path: str, Path or None. A YAML registry; None reads the shipped one.

    Returns:
        {name: Artifact}, in the file's order.

    Raises:
        RegistryError: one line naming the file, the key and what was expected.

    Example:
        >>> load_registry()["voc2012"].files[0].size
        1999639040
    """
    path = Path(path) if path is not None else SHIPPED_REGISTRY
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except OSError as error:
        raise RegistryError(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RegistryError(f"{path}: invalid YAML ({problem})") from None
    if not isinstance(data, dict) or not data:
        raise RegistryError(f"{path}: expected a mapping of artifact names")
    return {name: _artifact(path, name, entry) for name, entry in data.items()}


def _artifact(path: Path, name, entry) -> Artifact:
    where = f"{path}: {name}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(f"{where}: expected a lower-case name (a-z, 0-9, _)")
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping")
    known = {field.name for field in dataclasses.fields(Artifact)} - {"name"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise RegistryError(f"{where}.{unknown[0]}: unknown key")
    access = entry.get("access")
    if access not in ACCESS:
        raise RegistryError(f"{where}.access: expected one of {', '.join(ACCESS)}")
    layout = str(entry.get("layout", "."))
    if Path(layout).is_absolute() or ".." in Path(layout).parts:
        raise RegistryError(f"{where}.layout: expected a relative folder inside it")
    files = entry.get("files")
    if not isinstance(files, list) or not files:
        raise RegistryError(f"{where}.files: expected a list of files")
    remote_files = tuple(
        _remote_file(f"{where}.files[{index}]", item, access)
        for index, item in enumerate(files)
    )
    names = [remote.name for remote in remote_files]
    if len(set(names)) != len(names):
        raise RegistryError(f"{where}.files: a file name appears twice")
    text = {key: entry.get(key, "") for key in ("description", "licence", "next")}
    for key, value in text.items():
        if not isinstance(value, str) or (key != "next" and not value.strip()):
            raise RegistryError(f"{where}.{key}: expected text")
    return Artifact(
        name=name,
        access=access,
        layout=layout,
        files=remote_files,
        page=str(entry.get("page", "")),
        pin=entry.get("pin"),
        **{key: " ".join(value.split()) for key, value in text.items()},
    )


def _remote_file(where: str, item, access: str) -> RemoteFile:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected a mapping")
    known = {field.name for field in dataclasses.fields(RemoteFile)}
    unknown = sorted(set(item) - known)
    if unknown:
        raise RegistryError(f"{where}.{unknown[0]}: unknown key")
    name = item.get("name")
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise RegistryError(f"{where}.name: expected a file name without folders")
    urls = item.get("urls", [])
    if not isinstance(urls, list) or any(not _is_url(url) for url in urls):
        raise RegistryError(f"{where}.urls: expected a list of http(s) URLs")
    if access == "open" and not urls:
        raise RegistryError(f"{where}.urls: an open artifact needs at least one URL")
    size = item.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise RegistryError(f"{where}.size: expected a positive number of bytes")
    for algorithm, pattern in _HEX.items():
        value = item.get(algorithm)
        if value is not None and not (
            isinstance(value, str) and pattern.fullmatch(value)
        ):
            raise RegistryError(f"{where}.{algorithm}: expected lower-case hex")
    unpack = item.get("unpack")
    if unpack is not None and unpack not in UNPACK:
        raise RegistryError(f"{where}.unpack: expected one of {', '.join(UNPACK)}")
    place = item.get("place")
    if place is not None and (
        Path(place).is_absolute() or ".." in Path(place).parts or unpack
    ):
        raise RegistryError(f"{where}.place: expected a relative path, no unpack")
    return RemoteFile(
        name=name,
        urls=tuple(urls),
        size=size,
        sha256=item.get("sha256"),
        md5=item.get("md5"),
        unpack=unpack,
        place=place,
        package_id=item.get("package_id"),
    )


def _is_url(text) -> bool:
    if not isinstance(text, str):
        return False
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
