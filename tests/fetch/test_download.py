"""Downloads over a loopback server: resumed, URL after URL, checked, never left
unverified under the final name."""

import hashlib

import pytest

from tfdeeplab.fetch import download as download_module
from tfdeeplab.fetch.download import (
    DiskSpaceError,
    DownloadError,
    check_free_space,
    download,
    partial_path,
)
from tfdeeplab.fetch.registry import RemoteFile

DATA = bytes(range(256)) * 12_000  # 3 MB: several 1 MiB chunks


def _remote(data=DATA, name="a.tar"):
    return RemoteFile(name, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _get(remote, folder, urls, **options):
    return download(
        remote, folder, urls, known_hash=remote.known_hash, progress=False, **options
    )


def test_a_download_cut_off_mid_file_resumes_with_a_range_request(server, tmp_path):
    base, routes = server
    routes.serve("/a.tar", DATA, cut_after=1_500_000)
    path = _get(_remote(), tmp_path, [f"{base}/a.tar"])
    assert path.read_bytes() == DATA
    assert routes.requests == [("/a.tar", None), ("/a.tar", "bytes=1500000-")]
    assert not partial_path(path).exists()


def test_a_url_that_refuses_gives_way_to_the_next(server, tmp_path):
    base, routes = server
    routes.statuses["/forbidden/a.tar"] = 403
    routes.statuses["/broken/a.tar"] = 503
    routes.serve("/good/a.tar", DATA)
    urls = [f"{base}/forbidden/a.tar", f"{base}/broken/a.tar", f"{base}/good/a.tar"]
    assert _get(_remote(), tmp_path, urls).read_bytes() == DATA


def test_a_redirect_loop_and_a_missing_file_are_each_named(server, tmp_path):
    base, routes = server
    routes.redirects["/loop"] = "/loop"
    with pytest.raises(DownloadError) as raised:
        _get(_remote(), tmp_path, [f"{base}/loop", f"{base}/nothing.tar"])
    message = str(raised.value)
    assert message.startswith("a.tar: no URL served it (")
    assert f"{base}/loop: HTTP 302" in message
    assert f"{base}/nothing.tar: HTTP 404" in message
    assert list(tmp_path.iterdir()) == []


def test_a_file_of_another_hash_is_refused_and_never_gets_the_name(server, tmp_path):
    base, routes = server
    routes.serve("/bad/a.tar", DATA[:-1] + b"x")
    with pytest.raises(DownloadError, match=r"its file does not match sha256:"):
        _get(_remote(), tmp_path, [f"{base}/bad/a.tar"])
    assert list(tmp_path.iterdir()) == []  # no final name, no partial, no temporary
    routes.serve("/good/a.tar", DATA)  # a mirror with the right bytes
    urls = [f"{base}/bad/a.tar", f"{base}/good/a.tar"]
    assert _get(_remote(), tmp_path, urls).read_bytes() == DATA


def test_too_little_disk_is_refused_before_a_byte_is_asked_for(
    server, tmp_path, monkeypatch
):
    """The archive and about as much again unpacked, less what a partial holds."""
    from tfdeeplab.fetch.fetching import fetch_artifact
    from tfdeeplab.fetch.registry import Artifact

    base, routes = server
    routes.serve("/a.tar", DATA)
    usage = download_module.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        download_module.shutil,
        "disk_usage",
        lambda path: usage._replace(free=5_000_000),
    )
    remote = RemoteFile(
        "a.tar", urls=(f"{base}/a.tar",), size=len(DATA), unpack="tar"
    )  # 3.07 MB, 6.14 MB with its unpacked files
    artifact = Artifact("tiny", "tiny", "open", "test", ".", (remote,))
    with pytest.raises(DiskSpaceError) as raised:
        fetch_artifact(artifact, tmp_path, progress=False, log=lambda line: None)
    assert str(raised.value) == (
        f"{tmp_path / 'downloads'}: tiny's a.tar needs 6.1 MB free, the disk has 5.0 MB"
    )
    assert routes.requests == []
    check_free_space(tmp_path, 5_000_000, "x")  # exactly enough
    with pytest.raises(DiskSpaceError, match="x needs 5.0 MB free"):
        check_free_space(tmp_path, 5_000_001, "x")


def test_ctrl_c_keeps_the_bytes_and_the_next_run_continues(
    server, tmp_path, monkeypatch
):
    base, routes = server
    routes.serve("/a.tar", DATA)
    real_bar = download_module.progress_bar

    def interrupting_bar(**kwargs):
        bar = real_bar(**kwargs)
        updates = []

        def update(count=1):
            updates.append(count)
            if len(updates) == 3:  # the offset, then one chunk written
                raise KeyboardInterrupt

        bar.update = update
        return bar

    monkeypatch.setattr(download_module, "progress_bar", interrupting_bar)
    with pytest.raises(KeyboardInterrupt):
        _get(_remote(), tmp_path, [f"{base}/a.tar"])
    partial = partial_path(tmp_path / "a.tar")
    kept = partial.stat().st_size
    assert 0 < kept < len(DATA) and not (tmp_path / "a.tar").exists()
    monkeypatch.setattr(download_module, "progress_bar", real_bar)
    assert _get(_remote(), tmp_path, [f"{base}/a.tar"]).read_bytes() == DATA
    assert routes.requests[-1] == ("/a.tar", f"bytes={kept}-")
    assert not partial.exists()


def test_a_host_that_does_not_answer_in_time_gives_way_to_the_next(server, tmp_path):
    base, routes = server
    routes.serve("/slow/a.tar", DATA)
    routes.delays["/slow/a.tar"] = 3.0
    routes.serve("/fast/a.tar", DATA)
    urls = [f"{base}/slow/a.tar", f"{base}/fast/a.tar"]
    path = _get(_remote(), tmp_path, urls, timeout=0.5)
    assert path.read_bytes() == DATA
    assert [request[0] for request in routes.requests] == ["/slow/a.tar", "/fast/a.tar"]


def test_a_partial_that_already_holds_every_byte_is_checked_not_fetched(
    server, tmp_path
):
    """A run stopped between the last byte and the rename: the server answers the
    Range with 416, and the bytes are checked and placed."""
    base, routes = server
    routes.serve("/a.tar", DATA)
    partial_path(tmp_path / "a.tar").write_bytes(DATA)
    remote = RemoteFile("a.tar", sha256=_remote().sha256)  # no size known
    path = _get(remote, tmp_path, [f"{base}/a.tar"])
    assert path.read_bytes() == DATA
    assert routes.requests == [("/a.tar", f"bytes={len(DATA)}-")]
