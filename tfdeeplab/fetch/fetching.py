"""Bring one artifact into `DATA/<name>`: download (or take from `--from DIR`), check,
unpack or place, pin weights that have no published hash, record it as done.

Layout of DATA:
    downloads/<file>        the files as fetched (kept: a re-run checks, not refetches)
    <name>/<layout>         what the converter or importer takes
    <name>/.fetched.json    the record of a finished fetch (files and their hashes)
    fetch.lock.json         sha256 pinned on first use for files with no published hash
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tfdeeplab.atomic_files import write_atomically, write_json
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.fetch.download import check_free_space, download, partial_path
from tfdeeplab.fetch.registry import Artifact, RemoteFile
from tfdeeplab.fetch.unpack import unpack, unpacked_marker

DOWNLOADS = "downloads"
RECORD_FILE = ".fetched.json"
LOCK_FILE = "fetch.lock.json"
# The network a weight file with no published hash must be before it is pinned:
# every convolution of a ResNet-v1-101 (the seed's backbone), by name and shape.
PIN_ARCHITECTURE = {"depth": 101, "units_per_stage": None, "base_width": 64}


class FetchError(TfdeeplabError):
    """A fetch that cannot go on; the message names the file and what to do."""


class ManualDownloadNeeded(FetchError):
    """A file behind a login or a browser page: where to get it, where to put it."""


@dataclasses.dataclass(frozen=True)
class FetchedArtifact:
    """An artifact in place.

    Args:
        name: str. The registry name.
        root: Path. The folder its converter or importer takes.
        reused: bool. It was there, checked, from an earlier fetch.
    """

    name: str
    root: Path
    reused: bool


def artifact_root(artifact: Artifact, data_dir: Path) -> Path:
    """The folder an artifact becomes: `DATA/<name>/<layout>`."""
    return (data_dir / artifact.name / artifact.layout).resolve()


def is_fetched(artifact: Artifact, data_dir: Path) -> bool:
    """Whether an earlier fetch of `artifact` into `data_dir` finished."""
    record = data_dir / artifact.name / RECORD_FILE
    try:
        files = json.loads(record.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sorted(files) == sorted(remote.name for remote in artifact.files)


def file_sha256(path: Path) -> str:
    """The sha256 of a file (pooch's `file_hash`)."""
    import pooch

    return pooch.file_hash(str(path), alg="sha256")


def _matches(path: Path, known_hash: str | None) -> bool:
    """Whether the file has `known_hash` (`sha256:HEX` or `md5:HEX`); True for None."""
    import pooch

    if known_hash is None:
        return True
    algorithm, expected = known_hash.split(":", 1)
    return pooch.file_hash(str(path), alg=algorithm) == expected


def read_lock(data_dir: Path) -> dict[str, str]:
    """The pinned sha256 of each `artifact/file`, {} when there is no lock file."""
    path = data_dir / LOCK_FILE
    if not path.is_file():
        return {}
    try:
        lock = json.loads(path.read_text())
    except ValueError:
        raise FetchError(f"{path}: not JSON; restore it or remove it") from None
    if not isinstance(lock, dict):
        raise FetchError(f"{path}: expected a mapping of files to sha256")
    return lock


def fetch_artifact(
    artifact: Artifact,
    data_dir: Path,
    *,
    mirror: str | None = None,
    from_dir: Path | None = None,
    expect_sha256: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> FetchedArtifact:
    """Fetch, check and unpack one artifact; reuse it when an earlier fetch finished.

    Args:
        artifact: Artifact. What to fetch.
        data_dir: Path. DATA (created).
        mirror: str or None. A URL tried as `MIRROR/<file name>` before the
            registry's own URLs.
        from_dir: Path or None. A folder holding the files already (offline, or
            downloaded in a browser): they are checked and copied, not fetched;
            an open artifact's file missing there is downloaded.
        expect_sha256: str or None. The sha256 a user trusts, for an artifact of
            one file.
        progress: bool. Show download progress.
        log: function taking one line of text.

    Returns:
        FetchedArtifact.

    Raises:
        ManualDownloadNeeded: a file needs a browser; the message says where.
        FetchError, DownloadError, DiskSpaceError, UnpackError: one line each.

    Example:
        >>> fetch_artifact(load_registry()["voc2012"], Path("data"))
    """
    data_dir = Path(data_dir)
    if expect_sha256 and len(artifact.files) != 1:
        raise FetchError(
            f"{artifact.name}: --expect-sha256 names one file, it has "
            f"{len(artifact.files)}"
        )
    folder = data_dir / artifact.name
    if is_fetched(artifact, data_dir):
        return FetchedArtifact(artifact.name, artifact_root(artifact, data_dir), True)
    lock = read_lock(data_dir)
    hashes = {}
    for remote in artifact.files:
        key = f"{artifact.name}/{remote.name}"
        pinned = lock.get(key)
        expected = expect_sha256 or (None if remote.known_hash else pinned)
        known = f"sha256:{expected}" if expected else remote.known_hash
        path = _obtain(
            remote, artifact, data_dir, known, mirror, from_dir, progress, log
        )
        if remote.unpack:
            if not unpacked_marker(folder, path).is_file():
                log(f"{artifact.name}: unpacking {remote.name}")
                unpack(path, remote.unpack, folder)
        else:
            _place(path, folder / (remote.place or remote.name))
        sha256 = file_sha256(path)
        if artifact.pin and not remote.known_hash and key not in lock:
            _check_structure(artifact, folder, path)
            lock[key] = sha256
            write_json(data_dir / LOCK_FILE, lock, sort_keys=True)
            log(f"{key}: sha256 {sha256} pinned in {data_dir / LOCK_FILE}")
        hashes[remote.name] = sha256
    write_json(folder / RECORD_FILE, {"artifact": artifact.name, "files": hashes})
    return FetchedArtifact(artifact.name, artifact_root(artifact, data_dir), False)


def _obtain(remote, artifact, data_dir, known, mirror, from_dir, progress, log) -> Path:
    """The checked file in DATA/downloads: there already, copied from `from_dir`,
    or downloaded."""
    downloads = data_dir / DOWNLOADS
    final = downloads / remote.name
    if final.is_file():
        if _matches(final, known):
            return final
        raise FetchError(
            f"{final}: exists but does not match {known}; move it away and fetch again"
        )
    if from_dir is not None and (
        (Path(from_dir) / remote.name).is_file() or artifact.access != "open"
    ):
        return _copy_from(remote, Path(from_dir), final, known)
    if artifact.access == "browser":
        raise ManualDownloadNeeded(_manual_steps(artifact, remote, data_dir))
    if artifact.access == "login" and not mirror:
        return _login_download(remote, downloads, final, known, log)
    urls = [f"{mirror.rstrip('/')}/{remote.name}"] if mirror else []
    urls += list(remote.urls)
    have = partial_path(final).stat().st_size if partial_path(final).is_file() else 0
    needed = None if remote.size is None else remote.size - have
    if needed is not None and remote.unpack:
        needed += remote.size  # the unpacked files take about the archive's size
    check_free_space(downloads, needed, f"{artifact.name}'s {remote.name}")
    log(f"{artifact.name}: downloading {remote.name}")
    return download(
        remote, downloads, urls, known_hash=known, progress=progress, log=log
    )


def _login_download(remote, downloads: Path, final: Path, known, log) -> Path:
    from tfdeeplab.fetch import cityscapes_login

    session = cityscapes_login.cityscapes_session()
    log(f"cityscapes: downloading {remote.name} (package {remote.package_id})")
    staged = cityscapes_login.download_package(remote, downloads, session)
    if not _matches(staged, known):
        raise FetchError(f"{staged}: does not match {known}; not taken")
    staged.replace(final)
    return final


def _copy_from(remote: RemoteFile, from_dir: Path, final: Path, known) -> Path:
    source = from_dir / remote.name
    if not source.is_file():
        raise FetchError(f"{source}: not found (--from holds the files by name)")
    if not _matches(source, known):
        raise FetchError(f"{source}: does not match {known}; not taken")
    final.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(final, lambda temporary: shutil.copyfile(source, temporary))
    return final


def _place(path: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(destination, lambda temporary: shutil.copyfile(path, temporary))


def _manual_steps(artifact: Artifact, remote: RemoteFile, data_dir: Path) -> str:
    where = artifact.page or "www.cityscapes-dataset.com/downloads"
    how = "a browser" if artifact.access == "browser" else "a login"
    return (
        f"{artifact.name}: {remote.name} needs {how}: download it from {where}, "
        f"then: python -m tfdeeplab.fetch {artifact.name} --dir {data_dir} "
        "--from FOLDER_HOLDING_IT"
    )


def _check_structure(artifact: Artifact, folder: Path, downloaded: Path) -> None:
    """A weight file with no published hash is read by its importer before its
    sha256 is trusted: every convolution of a ResNet-v1-101 must be there, by its
    name, with its kernel's shape (`PIN_ARCHITECTURE`)."""
    from tfdeeplab.weights.formats import FORMATS, WeightsFormatError

    weight_format = FORMATS[artifact.pin]
    if downloaded.suffix in weight_format.extensions:
        files = [downloaded]
    else:  # an archive: the weight files it held
        files = sorted(
            path
            for extension in weight_format.extensions
            for path in folder.rglob(f"*{extension}")
        )
    if not files:
        raise FetchError(f"{downloaded}: holds no {artifact.pin} weight file")
    expected, units = resnet_kernel_shapes(**PIN_ARCHITECTURE)
    for path in files:
        try:
            tensors = weight_format.tensors(path, units)
        except WeightsFormatError as error:
            raise FetchError(f"{path}: not pinned: {error}") from None
        found = {
            tensor.layer: tuple(tensor.value.shape)
            for _, _, mapped in tensors
            for tensor in mapped or ()
            if tensor.role == "kernel"
        }
        missing = [layer for layer in expected if layer not in found]
        if missing:
            raise FetchError(
                f"{path}: not pinned: no {missing[0]} kernel (and {len(missing) - 1} "
                f"more of a ResNet-{PIN_ARCHITECTURE['depth']}'s)"
            )
        for layer, shape in expected.items():
            if found[layer] != shape:
                raise FetchError(
                    f"{path}: not pinned: {layer} is {found[layer]}, a "
                    f"ResNet-{PIN_ARCHITECTURE['depth']}'s is {shape}"
                )


def resnet_kernel_shapes(
    depth: int, units_per_stage=None, base_width: int = 64
) -> tuple[dict[str, tuple], dict]:
    """The HWIO kernel shape of every convolution of a ResNet-v1, by Caffe name,
    and its unit names by stage.

    Example:
        >>> resnet_kernel_shapes(101)[0]["res4b22_branch2b"]
        (3, 3, 256, 256)
    """
    from tfdeeplab.catalog.resnet_layout import resnet_unit_names

    units = resnet_unit_names(depth, units_per_stage)
    shapes = {"conv1": (7, 7, 3, base_width)}
    channels = base_width
    for index, names in enumerate(units.values()):
        width = base_width * 2**index
        for position, unit in enumerate(names):
            if position == 0:
                shapes[f"{unit}_branch1"] = (1, 1, channels, 4 * width)
            shapes[f"{unit}_branch2a"] = (1, 1, channels, width)
            shapes[f"{unit}_branch2b"] = (3, 3, width, width)
            shapes[f"{unit}_branch2c"] = (1, 1, width, 4 * width)
            channels = 4 * width
    return shapes, units
