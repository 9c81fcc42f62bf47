"""Building custom ops: the cache, rebuilds on edits, failures tried once."""

import logging
from pathlib import Path

import pytest

from tfdeeplab.ops import build, op_cache

HEADER = '#include "tensorflow/core/framework/op.h"\n'


def test_a_library_is_built_once_and_again_after_an_edit(tmp_path, cache_folder):
    first_source, second_source = tmp_path / "a_op.cc", tmp_path / "b_op.cc"
    first_source.write_text(HEADER)
    second_source.write_text(HEADER + "namespace second {}\n")
    sources = [first_source, second_source]
    library = op_cache.build_op_library(sources, "noop")
    assert library.parent == cache_folder and library.name.startswith("noop-")
    stamp = library.stat().st_mtime_ns
    again = op_cache.build_op_library(sources, "noop")
    assert again == library and again.stat().st_mtime_ns == stamp  # from the cache
    second_source.write_text(HEADER + "namespace edited {}\n")
    assert op_cache.build_op_library(sources, "noop") != library  # any source counts
    assert not list(cache_folder.glob("tmp*"))  # no half-written library left behind


def test_build_errors_name_the_compiler_or_the_source(
    tmp_path, cache_folder, monkeypatch
):
    source = tmp_path / "noop_op.cc"
    source.write_text("this is not C++\n")
    with pytest.raises(op_cache.OpBuildError, match=r"compiling noop_op\.cc failed"):
        op_cache.build_op_library([source], "broken")
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(
        op_cache.OpBuildError, match="no C\\+\\+ compiler: 'no-such-compiler'"
    ):
        op_cache.build_op_library([source], "broken")
    with pytest.raises(op_cache.OpBuildError, match="no C\\+\\+ sources"):
        op_cache.build_op_library([], "empty")


def test_a_failed_build_is_tried_once_per_process(
    tmp_path, cache_folder, monkeypatch, caplog
):
    calls = tmp_path / "compiler_calls"
    compiler = tmp_path / "failing-cxx"
    compiler.write_text(f"#!/bin/sh\necho called >> {calls}\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    source = tmp_path / "tried_once_op.cc"
    source.write_text(HEADER)
    with caplog.at_level(logging.WARNING, logger=op_cache.__name__):
        assert not op_cache.op_available("tried_once", [source])
        assert not op_cache.op_available("tried_once", [source])
        with pytest.raises(op_cache.OpBuildError, match="compiling tried_once_op.cc"):
            op_cache.load_op("tried_once", [source])
    assert calls.read_text().splitlines() == ["called"]
    warnings = [
        r for r in caplog.records if "tried_once kernels unavailable" in r.message
    ]
    assert len(warnings) == 1


def test_the_project_ops_have_their_sources_beside_them():
    assert [path.name for path in op_cache.op_sources("crop_resample")] == [
        "crop_resample_op.cc"
    ]
    assert op_cache.op_sources("no_such_op") == []
    assert op_cache.op_available("crop_resample")


def test_the_build_command_builds_every_op_and_says_where(capsys):
    # The session's own cache: the ops are built there by now (or are built here).
    assert build.main([]) == 0
    lines = library_lines(capsys.readouterr().out)
    assert [line.split(":")[0] for line in lines] == op_cache.project_ops()
    assert "deformable_conv" in op_cache.project_ops()
    for line in lines:
        library = Path(line.split(": ", 1)[1])
        assert library.is_file() and library.suffix == ".so"


def library_lines(output: str) -> list[str]:
    """The build command's lines about op libraries (`name: path`), not about CUDA
    images (`name CUDA: ...`, `name sm_80: ...`)."""
    return [line for line in output.splitlines() if " " not in line.split(":")[0]]


def test_the_build_command_reports_a_broken_compiler_in_one_line(
    tmp_path, cache_folder, monkeypatch, capsys
):
    compiler = tmp_path / "broken-cxx"
    script = [
        "#!/bin/sh",
        "echo 'In file included from x.h:1,' >&2",
        "echo 'x.cc:2:3: error: broken on purpose' >&2",
        "exit 1",
    ]
    compiler.write_text("\n".join(script) + "\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    assert build.main([]) == 1
    lines = library_lines(capsys.readouterr().out)
    assert len(lines) == len(op_cache.project_ops())
    assert all(
        line.endswith("failed: x.cc:2:3: error: broken on purpose") for line in lines
    ), lines
