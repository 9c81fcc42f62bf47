"""Unpacking: whole or not at all, nothing outside the folder."""

import io
import tarfile
import zipfile

import pytest

from tfdeeplab.fetch import unpack as unpack_module
from tfdeeplab.fetch.unpack import UnpackError, unpack, unpacked_marker


def _tar(path, members, mode="w"):
    """`members`: (name, bytes) files, or (name, ("symlink", target))."""
    with tarfile.open(path, mode) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def test_a_tgz_unpacks_into_the_folder_and_merges_with_what_is_there(tmp_path):
    first = _tar(tmp_path / "a.tgz", [("top/a.txt", b"a"), ("README", b"1")], "w:gz")
    second = _tar(tmp_path / "b.tar", [("top/b.txt", b"b"), ("README", b"2")])
    target = tmp_path / "out"
    unpack(first, "tgz", target)
    unpack(second, "tar", target)
    assert (target / "top" / "a.txt").read_text() == "a"
    assert (target / "top" / "b.txt").read_text() == "b"
    assert (target / "README").read_text() == "2"
    assert unpacked_marker(target, first).is_file()
    assert sorted(p.name for p in target.iterdir()) == [".unpacked", "README", "top"]


@pytest.mark.parametrize(
    "member",
    [
        ("../escaped.txt", b"x"),
        ("/etc/escaped.txt", b"x"),
        ("top/../../escaped.txt", b"x"),
        ("top/link", ("symlink", "../../escaped.txt")),
        ("top/link", ("symlink", "/etc/passwd")),
    ],
)
def test_a_member_that_would_land_outside_is_refused_before_anything_is_written(
    tmp_path, member
):
    archive = _tar(tmp_path / "evil.tar", [("top/fine.txt", b"ok"), member])
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnpackError) as raised:
        unpack(archive, "tar", target)
    assert str(raised.value).startswith(f"{archive}: member {member[0]!r}")
    assert list(target.iterdir()) == []  # not even the fine member
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()


def test_a_zip_with_a_dot_dot_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        opened.writestr("fine.txt", "ok")
        opened.writestr("../escaped.txt", "x")
    with pytest.raises(UnpackError, match="'../escaped.txt' would land outside"):
        unpack(archive, "zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_ctrl_c_while_unpacking_leaves_nothing_half_moved_in(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "a.tar", [("top/a.txt", b"a"), ("top/b.txt", b"b")])
    target = tmp_path / "out"

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(unpack_module, "_move_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        unpack(archive, "tar", target)
    assert list(target.iterdir()) == []  # the staging folder is gone too
    monkeypatch.undo()
    unpack(archive, "tar", target)
    assert (target / "top" / "b.txt").read_text() == "b"


def test_an_unreadable_archive_is_one_line(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(b"not a tar at all")
    with pytest.raises(UnpackError, match=r"a\.tgz: not unpacked"):
        unpack(archive, "tgz", tmp_path / "out")
