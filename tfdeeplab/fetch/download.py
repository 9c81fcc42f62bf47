"""Download one file, checked: resumed, tried URL after URL, never left unverified
under its final name.

pooch does the part it is made for: the download lands in a temporary file beside
the final one, its hash is checked (`sha256:` or `md5:`), and only then is it moved
to its final name; a mismatch deletes it. What pooch's own downloaders lack is
resuming, so `ResumingDownloader` (a pooch downloader) streams over HTTP Range into
`<name>.partial`, which Ctrl-C, a cut connection or a failed host leave in place
for the next try, and hands the finished bytes to pooch.
"""

from __future__ import annotations

import http.client
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.fetch.registry import RemoteFile
from tfdeeplab.progress_display import progress_bar

PARTIAL_SUFFIX = ".partial"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60.0
# Tries of one URL in a row while each one brings more bytes (a cut connection).
RESUMES_PER_URL = 3


class DownloadError(TfdeeplabError):
    """No URL gave a file that passed its checks; the message lists why each failed."""


class DiskSpaceError(TfdeeplabError):
    """Too little free disk for a download and its unpacked files, before it starts."""


class UrlFailed(Exception):
    """One URL did not serve the file (a status, a timeout, a redirect loop)."""


def partial_path(final: Path) -> Path:
    """Where the bytes of an unfinished download of `final` are kept."""
    return final.with_name(final.name + PARTIAL_SUFFIX)


class ResumingDownloader:
    """A pooch downloader continuing `partial` with an HTTP Range request.

    Args:
        partial: Path. The file holding the bytes so far (kept on any failure).
        size: int or None. The expected size, for the progress display.
        progress: bool. Show progress.
        timeout: float. Seconds without data before the URL counts as failed.

    Example:
        >>> pooch.retrieve(url, known_hash, fname="a.tar", path=folder,
        ...                downloader=ResumingDownloader(folder / "a.tar.partial"))
    """

    def __init__(
        self, partial: Path, size=None, progress=True, timeout=TIMEOUT_SECONDS
    ):
        self.partial, self.size = partial, size
        self.progress, self.timeout = progress, timeout

    def __call__(self, url: str, output_file, pooch=None, check_only=False) -> None:
        got = -1
        for _ in range(RESUMES_PER_URL):
            before = self._bytes_so_far()
            try:
                self._continue(url)
                break
            except UrlFailed:
                got = self._bytes_so_far() - before
                if got <= 0:
                    raise
        else:
            if got > 0:
                raise UrlFailed("the connection kept breaking off")
        Path(self.partial).replace(output_file)  # pooch checks it, then places it

    def _bytes_so_far(self) -> int:
        return self.partial.stat().st_size if self.partial.is_file() else 0

    def _continue(self, url: str) -> None:
        offset = self._bytes_so_far()
        request = urllib.request.Request(url, headers={"User-Agent": "tfdeeplab"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:  # no bytes after the partial's
                if self.size is None or offset == self.size:
                    return  # it holds every byte; pooch checks its hash
                self.partial.unlink()  # longer than the file: ours, start again
            raise UrlFailed(f"HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UrlFailed(f"not reachable ({reason})") from None
        with response:
            if offset and response.status != 206:
                offset = 0  # the server sent the whole file: start again
            self._stream(response, offset)

    def _stream(self, response, offset: int) -> None:
        total = self.size or _content_length(response, offset)
        mib = 1 << 20
        bar = progress_bar(
            total=None if total is None else -(-total // mib),
            desc=self.partial.name[: -len(PARTIAL_SUFFIX)],
            unit="MiB",
            disable=not self.progress,
        )
        bar.update(offset // mib)
        try:
            with open(self.partial, "ab" if offset else "wb") as stream:
                while True:
                    try:
                        chunk = response.read(CHUNK_BYTES)
                    except (http.client.IncompleteRead, OSError):
                        raise UrlFailed("the connection broke off") from None
                    if not chunk:
                        break
                    stream.write(chunk)
                    bar.update(len(chunk) / mib)
        finally:
            bar.close()
        expected = _content_length(response, offset)
        if expected is not None and self._bytes_so_far() < expected:
            raise UrlFailed("the connection broke off")


def _content_length(response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) + offset if length and length.isdigit() else None


def check_free_space(folder: Path, needed: int | None, what: str) -> None:
    """Refuse, before any byte is written, when `folder`'s disk has under `needed`.

    Raises:
        DiskSpaceError: naming the folder, what is needed and what is free.
    """
    if not needed:
        return
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DiskSpaceError(
            f"{folder}: {what} needs {byte_count(needed)} free, the disk has "
            f"{byte_count(free)}"
        )


def byte_count(count: int | None) -> str:
    """`2.00 GB`, `815.6 MB`, or `?` for an unknown size."""
    if count is None:
        return "?"
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def download(
    remote: RemoteFile,
    folder: Path,
    urls: Sequence[str],
    *,
    known_hash: str | None,
    progress: bool = True,
    timeout: float = TIMEOUT_SECONDS,
    log: Callable[[str], None] = print,
) -> Path:
    """Download `remote` into `folder`, trying `urls` in order.

    A URL is left for the next on an HTTP error (403, 404, 5xx), a timeout, a
    redirect loop, a connection that keeps breaking off, or a hash mismatch.

    Args:
        remote: RemoteFile. The file (its name and size).
        folder: Path. Where it goes, as `folder / remote.name`.
        urls: the URLs to try.
        known_hash: str or None. `sha256:HEX` or `md5:HEX` it must match.
        progress: bool. Show progress.
        timeout: float. Seconds without data before a URL counts as failed.
        log: function taking one line of text.

    Returns:
        The file's path.

    Raises:
        DownloadError: no URL served a file passing its hash, each URL's reason
            named; what was received of the last one stays in `<name>.partial`.

    Example:
        >>> download(registry["voc2012"].files[0], Path("data/downloads"),
        ...          registry["voc2012"].files[0].urls, known_hash=None)
    """
    import pooch

    pooch.get_logger().setLevel("WARNING")
    final = folder / remote.name
    partial = partial_path(final)
    failures = []
    for url in urls:
        downloader = ResumingDownloader(partial, remote.size, progress, timeout)
        try:
            pooch.retrieve(
                url,
                known_hash,
                fname=remote.name,
                path=folder,
                downloader=downloader,
                progressbar=False,
            )
        except UrlFailed as error:
            failures.append(f"{url}: {error}")
            continue
        except ValueError as error:  # pooch: the hash does not match
            if "hash" not in str(error).lower():
                raise
            failures.append(f"{url}: its file does not match {known_hash}")
            log(f"{remote.name}: {url} served a file of another hash; next URL")
            continue
        return final
    kept = f"; {partial} is kept for the next try" if partial.is_file() else ""
    raise DownloadError(
        f"{remote.name}: no URL served it ({'; '.join(failures) or 'no URLs'}){kept}"
    )
