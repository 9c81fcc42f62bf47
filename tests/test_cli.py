"""What every command shares: `--set` lists, `~` in paths, and how a command ends.

Every error class meant for a user (every subclass of `TfdeeplabError`, found by
enumerating them, not from a list) ends every command in one line with its exit
code.
"""

import importlib
import pkgutil
from pathlib import Path

import pytest

import tfdeeplab
import tfrecords_tools
from tfdeeplab import cli
from tfdeeplab.errors import TfdeeplabError, in_command_terms, user_error_classes
from tfdeeplab.experiment.demo_job import RECIPE


def test_an_override_list_ends_at_a_word_without_an_equals_sign():
    split = cli.split_overrides
    assert split(["--set", "a=1", "b=2", "photo.jpg", "--out", "d"]) == [
        "--set=a=1",
        "--set=b=2",
        "photo.jpg",
        "--out",
        "d",
    ]
    assert split(["--set", "--out", "d"]) == ["--out", "d"]
    assert split(["--set", "photo.jpg"]) == ["--set=photo.jpg"]  # refused, named
    assert split(["--set", "a=-1", "--cityscapes-set", "b=2"]) == [
        "--set=a=-1",
        "--cityscapes-set=b=2",
    ]


def test_a_tilde_is_expanded_in_path_arguments(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.path_argument("~/runs/x") == tmp_path / "runs" / "x"
    assert cli.path_argument("plain") == Path("plain")


def test_run_command_ends_in_one_line_and_a_code(capsys):
    class Refused(TfdeeplabError):
        exit_code = 7

    def raise_(error):
        def body():
            raise error

        return body

    assert cli.run_command(raise_(Refused("x: no\nmore"))) == 7
    assert capsys.readouterr().err == "error: x: no more\n"
    assert cli.run_command(raise_(KeyboardInterrupt()), "stopped") == 130
    assert capsys.readouterr().err == "stopped\n"
    missing = FileNotFoundError(2, "No such file or directory", "/nowhere/x")
    assert cli.run_command(raise_(missing)) == 2
    assert capsys.readouterr().err == "error: /nowhere/x: No such file or directory\n"
    with pytest.raises(ZeroDivisionError):  # a bug: its traceback is the report
        cli.run_command(lambda: 1 / 0)
    assert cli.run_command(lambda: None) == 0


def _import_everything() -> None:
    for package in (tfdeeplab, tfrecords_tools):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def _commands(tmp_path):
    """(name, main, arguments, module and attribute its one library call is in)."""
    from tfdeeplab import compare, demo, describe, evaluate, predict, reproduce, train
    from tfdeeplab.bench import __main__ as bench
    from tfdeeplab.bench import deform
    from tfdeeplab.experiment import reproduce_job
    from tfdeeplab.export import __main__ as export
    from tfdeeplab.fetch import __main__ as fetch
    from tfdeeplab.fetch import plan as fetch_plan
    from tfdeeplab.ops import build
    from tfdeeplab.weights import __main__ as weights
    from tfrecords_tools import cityscapes, voc

    recipe, out = str(RECIPE), str(tmp_path / "out")
    return [
        ("train", train.main, [recipe], train, "start_tensorflow"),
        (
            "evaluate",
            evaluate.main,
            [recipe, "--checkpoint", "c"],
            evaluate,
            "start_tensorflow",
        ),
        (
            "predict",
            predict.main,
            ["p.png", "--recipe", recipe, "--checkpoint", "c", "--out", out],
            predict,
            "start_tensorflow",
        ),
        (
            "export",
            export.main,
            [recipe, "--checkpoint", "c", "--out", out],
            export,
            "start_tensorflow",
        ),
        ("describe", describe.main, [recipe], describe, "start_tensorflow"),
        ("weights", weights.main, ["inspect", "w.params"], weights, "start_tensorflow"),
        ("compare", compare.main, [recipe, "--out", out], compare, "start_tensorflow"),
        (
            "demo",
            demo.main,
            ["--dir", str(tmp_path / "demo")],
            demo,
            "start_tensorflow",
        ),
        ("bench", bench.main, ["deform"], deform, "run"),
        ("ops.build", build.main, [], build, "project_ops"),
        ("fetch", fetch.main, ["voc2012", "--dir", out], fetch_plan, "fetch_all"),
        (
            "reproduce",
            reproduce.main,
            ["voc", "--data", out],
            reproduce_job,
            "plan_reproduction",
        ),
        ("voc", voc.main, ["--voc-root", "v", "--out", out], voc, "convert_voc"),
        (
            "cityscapes",
            cityscapes.main,
            ["--root", "c", "--out", out],
            cityscapes,
            "convert_cityscapes",
        ),
    ]


def test_every_user_error_ends_every_command_in_one_line(tmp_path, monkeypatch, capsys):
    _import_everything()
    classes = user_error_classes()
    assert len(classes) > 30  # every module's errors were found
    for name, main, arguments, module, call in _commands(tmp_path):
        for cls in classes:
            error = cls(f"{cls.__name__}: what went wrong and what to do")

            def fail(*args, error=error, **kwargs):
                raise error

            monkeypatch.setattr(module, call, fail)
            code = main(arguments)
            captured = capsys.readouterr()
            lines = captured.err.strip().splitlines()
            assert code == cls.exit_code, (name, cls, captured.err)
            assert lines == [f"error: {error}"], (name, cls, captured.err)
            monkeypatch.undo()


def test_library_errors_name_parameters_and_commands_say_flags():
    message = (
        "out/w.npz exists; pass `force=True` to replace it or choose another `out`; "
        "is `fmt=mxnet` the format? `quantize`: no; `train_runs` and `unknown`"
    )
    flags = {"force": "--force", "out": "--out", "fmt": "--format"}
    assert in_command_terms(message, {**flags, "quantize": "--quantize"}) == (
        "out/w.npz exists; pass --force to replace it or choose another --out; "
        "is --format mxnet the format? --quantize: no; `train_runs` and `unknown`"
    )


def test_a_command_prints_the_library_error_in_its_flags(tmp_path, capsys):
    from tfdeeplab.weights.__main__ import main as weights_cli

    source = tmp_path / "weights.bin"
    source.write_bytes(b"\0" * 8)
    assert weights_cli(["inspect", str(source)]) == 2
    assert capsys.readouterr().err == (
        f"error: {source}: unknown extension; pass --format\n"
    )
