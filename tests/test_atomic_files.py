"""The one "temporary, then rename" writer: whole or nothing, and a folder's mode."""

import os
import stat

import pytest

from tfdeeplab.atomic_files import OutputError, atomic_path, write_text


def test_a_folder_written_whole_has_the_umasks_mode_not_mkdtemps(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "report", directory=True) as temporary:
            (temporary / "a.txt").write_text("a")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == 0o750
    assert (tmp_path / "report" / "a.txt").read_text() == "a"


def test_a_file_written_whole_has_the_umasks_mode_not_mkstemps(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_text(tmp_path / "eval.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "eval.json", "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]


def test_a_missing_folder_is_one_line_naming_the_output(tmp_path):
    with pytest.raises(OutputError, match="nowhere/x.json: cannot write it"):
        write_text(tmp_path / "nowhere" / "x.json", "x")
