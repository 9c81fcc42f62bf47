"""The `tfdeeplab` console command: every command as a subcommand, and --version."""

import subprocess
import sys
from pathlib import Path

import pytest

from tfdeeplab import __main__ as console
from tfdeeplab import __version__
from tfdeeplab.version import package_version, source_commit, version_line

ROOT = Path(__file__).parents[1]


def test_every_command_module_exists_and_has_a_main():
    import importlib

    for name, (module, about) in console.COMMANDS.items():
        assert callable(importlib.import_module(module).main), name
        assert about, name
    assert {"train", "evaluate", "predict", "export", "weights", "describe"} <= set(
        console.COMMANDS
    )
    assert {"compare", "demo", "bench", "build-ops", "convert-voc"} <= set(
        console.COMMANDS
    )


def test_a_subcommand_is_the_same_call_as_its_module(monkeypatch):
    """`tfdeeplab train voc_scale16 --set a=1` calls tfdeeplab.train.main with the
    words after the command, and returns its code."""
    from tfdeeplab import train

    calls = []
    monkeypatch.setattr(train, "main", lambda argv: calls.append(argv) or 7)
    assert console.main(["train", "voc_scale16", "--set", "a=1"]) == 7
    assert calls == [["voc_scale16", "--set", "a=1"]]


def test_describe_list_through_the_console(capsys):
    assert console.main(["describe", "--list"]) == 0
    assert "voc_scale16\n" in capsys.readouterr().out


def test_no_command_or_an_unknown_one_is_a_usage_error(capsys):
    assert console.main([]) == 2
    assert "usage: tfdeeplab COMMAND" in capsys.readouterr().err
    assert console.main(["trian"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tfdeeplab: unknown command 'trian'; one of train,")
    assert console.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in console.COMMANDS)


def test_version_names_the_package_and_in_a_clone_the_commit(capsys):
    assert console.main(["--version"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == version_line()
    assert line.startswith(f"tfdeeplab {package_version()}")
    assert package_version() == __version__
    if not (ROOT / ".git").exists():
        pytest.skip("not a clone: no commit to name")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert source_commit().split("+")[0] == commit[:12]
    assert f"(commit {source_commit()})" in line


def test_python_dash_m_tfdeeplab_is_the_console(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-m", "tfdeeplab", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(f"tfdeeplab {__version__}")


def test_a_resolved_recipe_names_the_code_that_wrote_it(tmp_path):
    from tfdeeplab.config import load_recipe, save_recipe

    recipe = load_recipe("voc_dcn")
    save_recipe(recipe, tmp_path / "recipe.yaml")
    header = (tmp_path / "recipe.yaml").read_text().splitlines()[0]
    assert header == f"# The resolved recipe voc_dcn, written by {version_line()}."
    assert load_recipe(tmp_path / "recipe.yaml") == recipe


def test_a_reader_that_went_away_ends_the_command_quietly(capfd):
    """`tfdeeplab describe --list | head -1`: exit 141, no traceback, no error."""
    import os

    from tfdeeplab.cli import BROKEN_PIPE_EXIT, run_command

    def body():
        raise BrokenPipeError(32, "Broken pipe")

    saved = os.dup(1)
    try:
        assert run_command(body) == BROKEN_PIPE_EXIT == 141
        print("after", flush=True)  # stdout now goes nowhere, and does not fail
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    captured = capfd.readouterr()
    assert captured.err == "" and "after" not in captured.out
