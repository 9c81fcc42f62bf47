"""Every command under the faults a new or a hostile user meets: one line, its exit
code, and nothing lost.

Each test provokes its fault for real (files cut short or garbled, outputs that
cannot be written, colliding names, Ctrl-C, foreign files) and checks the exit
code, the one line, and that nothing was lost or replaced.
"""

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import tiny_overrides
from tfdeeplab import evaluate as evaluate_cli
from tfdeeplab import predict as predict_cli
from tfdeeplab import train as train_cli
from tfdeeplab.demo import RECIPE
from tfdeeplab.export.__main__ import main as export_cli
from tfdeeplab.weights.__main__ import main as weights_cli

# sysfs refuses new files and folders, even to root.
UNWRITABLE = Path("/sys/tfdeeplab-output")


def fingerprints(directory: Path) -> dict:
    import hashlib

    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err, captured.err
    return errors[0]


@pytest.fixture
def run_copy(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def cut(path: Path, keep: float) -> None:
    """Cut a file to `keep` of its bytes, as a full disk or a killed copy leaves it."""
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def photos(folder: Path, count: int = 2, size=(30, 40)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"photo{index}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def train(demo_shards, workdir, *more):
    return train_cli.main(
        [
            str(RECIPE),
            "--workdir",
            str(workdir),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards, *more),
        ]
    )


def evaluate(demo_shards, *arguments):
    return evaluate_cli.main(
        [
            str(RECIPE),
            *arguments,
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
        ]
    )


def export(demo_shards, *arguments):
    return export_cli(
        [
            str(RECIPE),
            *arguments,
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
        ]
    )


def predict(demo_shards, *arguments):
    return predict_cli.main(
        [*arguments, "--set", *tiny_overrides(demo_shards), "eval.scales=[1.0]"]
    )


# ----------------------------------------------------------- checkpoints cut short
@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_training_skips_a_cut_short_checkpoint_and_keeps_it(
    demo_shards, run_copy, keep, capsys
):
    checkpoints = run_copy / "checkpoints"
    cut(next(checkpoints.glob("ckpt-6.data-*")), keep)
    damaged = {
        name: digest
        for name, digest in fingerprints(checkpoints).items()
        if name.startswith("ckpt-6.")
    }
    assert train(demo_shards, run_copy, "train.max_steps=8") == 0
    out = capsys.readouterr().out
    assert "skipped ckpt-6: ckpt-6.data-00000-of-00001 is cut short" in out
    assert f"resumed from {checkpoints / 'ckpt-4'} at step 4" in out
    assert fingerprints(checkpoints / "damaged") == damaged


@pytest.mark.parametrize("command", ["evaluate", "export", "predict"])
def test_a_cut_short_checkpoint_is_named_in_one_line(
    demo_shards, run_copy, tmp_path, command, capsys
):
    cut(next((run_copy / "checkpoints").glob("ckpt-6.data-*")), 0.5)
    out = tmp_path / "out"
    if command == "evaluate":
        code = evaluate(demo_shards, "--checkpoint", str(run_copy), "--json", str(out))
    elif command == "export":
        code = export(demo_shards, "--checkpoint", str(run_copy), "--out", str(out))
    else:
        code = predict(
            demo_shards,
            *map(str, photos(tmp_path / "in")),
            "--recipe",
            str(RECIPE),
            "--checkpoint",
            str(run_copy),
            "--out",
            str(out),
        )
    assert code == 2
    line = one_error_line(capsys)
    checkpoint = run_copy / "checkpoints" / "ckpt-6"
    assert line.startswith(f"error: {checkpoint}: ckpt-6.data-00000-of-00001 is cut ")
    assert line.endswith(f"an older one: {run_copy / 'checkpoints' / 'ckpt-4'}")
    assert not out.exists()


@pytest.fixture(scope="module")
def exported(demo_shards, trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "model"
    assert export(demo_shards, "--checkpoint", str(trained_run), "--out", str(out)) == 0
    return out


@pytest.mark.parametrize(
    "damage, message",
    [
        ("variables cut", "variables.data-00000-of-00001 is cut short"),
        ("graph cut", "the SavedModel does not load"),
        ("labels garbled", "labels.json: not valid JSON"),
        ("labels without a key", "labels.json: no 'palette' key; export the model"),
    ],
)
def test_a_damaged_saved_model_is_one_line(exported, tmp_path, damage, message, capsys):
    model = tmp_path / "model"
    shutil.copytree(exported, model)
    labels = model / "assets" / "labels.json"
    if damage == "variables cut":
        cut(next((model / "variables").glob("variables.data-*")), 0.5)
    elif damage == "graph cut":
        cut(model / "saved_model.pb", 0.5)
    elif damage == "labels garbled":
        labels.write_text('{"num_classes": 21, "class_names": [')
    else:
        record = json.loads(labels.read_text())
        del record["palette"]
        labels.write_text(json.dumps(record))
    out = tmp_path / "out"
    code = predict_cli.main(
        [
            *map(str, photos(tmp_path / "in")),
            "--saved-model",
            str(model),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    line = one_error_line(capsys)
    assert message in line and (str(model) in line), line
    assert not out.exists()


def test_another_programs_saved_model_is_one_line(exported, tmp_path, capsys):
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def double(self, x):
            return {"y": 2 * x}

    foreign = tmp_path / "foreign"
    module = Doubler()
    tf.saved_model.save(
        module, str(foreign), signatures={"serving_default": module.double}
    )
    shutil.copytree(exported / "assets", foreign / "assets", dirs_exist_ok=True)
    code = predict_cli.main(
        [
            *map(str, photos(tmp_path / "in")),
            "--saved-model",
            str(foreign),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert one_error_line(capsys) == (
        f"error: {foreign}: not a SavedModel from python -m tfdeeplab.export (its "
        "serving_default does not take uint8 images to labels and probabilities)"
    )


# ------------------------------------------------------------------ predict outputs
def test_outputs_never_replace_each_other_or_an_input(
    demo_shards, trained_run, tmp_path, capsys
):
    rng = np.random.default_rng(1)
    inputs = {}
    for name in ("a/x.jpg", "b/x.jpg", "c/y.jpg", "c/y.png"):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(path)
        inputs[name] = path
    out = tmp_path / "out"
    # An input inside --out whose label map would be out/z.png: it is kept.
    inside = out / "z.png"
    photos(out, 1)[0].rename(inside)
    before = inside.read_bytes()
    arguments = [
        "--recipe",
        str(RECIPE),
        "--checkpoint",
        str(trained_run),
        "--out",
        str(out),
        "--force",
    ]
    assert (
        predict(demo_shards, *map(str, inputs.values()), str(inside), *arguments) == 0
    )
    assert inside.read_bytes() == before
    expected = {
        "a_x_jpg.png",
        "b_x_jpg.png",
        "y_jpg.png",
        "y_png.png",
        "z_prediction.png",
    }
    assert expected <= {path.name for path in out.glob("*.png")}
    # Each label map is that image's own: predicted alone, it is the same.
    alone = tmp_path / "alone"
    capsys.readouterr()
    assert (
        predict(
            demo_shards,
            str(inputs["b/x.jpg"]),
            "--recipe",
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--out",
            str(alone),
        )
        == 0
    )
    np.testing.assert_array_equal(
        np.array(Image.open(alone / "x.png")), np.array(Image.open(out / "b_x_jpg.png"))
    )


def test_ctrl_c_in_predict_keeps_what_is_done_and_the_same_command_continues(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    from tfdeeplab.evaluation import prediction

    images = photos(tmp_path / "in", 3)
    out = tmp_path / "out"
    arguments = [
        *map(str, images),
        "--recipe",
        str(RECIPE),
        "--checkpoint",
        str(trained_run),
        "--out",
        str(out),
    ]
    write = prediction.write_prediction
    calls = []

    def interrupted_at_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write(*args)

    monkeypatch.setattr(prediction, "write_prediction", interrupted_at_the_second)
    assert predict(demo_shards, *arguments) == 130
    assert one_error_line(capsys) == (
        f"error: interrupted after 1 of 3 images (their outputs in {out} are "
        "complete); run the same command to continue"
    )
    monkeypatch.setattr(prediction, "write_prediction", write)
    first = (out / "photo0.png").read_bytes()
    assert predict(demo_shards, *arguments) == 0
    assert (
        capsys.readouterr().out.strip().endswith(f"2 written to {out}, 1 already done")
    )
    assert (out / "photo0.png").read_bytes() == first
    # An output changed since (someone else's now) is kept unless --force.
    (out / "photo1.png").write_bytes(b"mine")
    assert predict(demo_shards, *arguments) == 2
    assert "photo1.png exists" in one_error_line(capsys)
    assert (out / "photo1.png").read_bytes() == b"mine"


@pytest.mark.parametrize("kind", ["bomb", "sixteen bit", "too large"])
def test_images_predict_cannot_take_are_listed_and_the_rest_predicted(
    demo_shards, trained_run, tmp_path, kind, monkeypatch, capsys
):
    folder = tmp_path / "in"
    good = photos(folder, 1)[0]
    odd = folder / "odd.png"
    if kind == "bomb":  # a 40000x40000 header over a few bytes of data
        image = Image.new("L", (1, 1))
        image.save(odd)
        data = bytearray(odd.read_bytes())
        data[16:24] = struct.pack(">II", 40000, 40000)  # IHDR width and height
        odd.write_bytes(bytes(data))
    elif kind == "sixteen bit":
        ramp = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
        Image.fromarray(ramp).save(odd)
    else:  # room for the small photo, not for this one
        Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(odd)
        from tfdeeplab.experiment import predict_job

        room = predict_job.BASE_BYTES + 1e6
        monkeypatch.setattr(predict_job, "available_memory", lambda: room)
    out = tmp_path / "out"
    code = predict(
        demo_shards,
        str(folder),
        "--recipe",
        str(RECIPE),
        "--checkpoint",
        str(trained_run),
        "--out",
        str(out),
    )
    captured = capsys.readouterr()
    assert (out / f"{good.stem}.png").is_file()
    if kind == "sixteen bit":  # scaled to 8 bits, not clipped to white
        from tfdeeplab.evaluation.prediction import read_rgb

        grey = read_rgb(odd)[..., 0]
        assert code == 0 and grey.min() == 0 and grey.max() == 255
        assert 100 < np.median(grey) < 155
        assert (out / "odd.png").is_file()
        return
    assert code == 1
    skipped = [line for line in captured.err.splitlines() if line.startswith("skip")]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped: {odd}: ")
    if kind == "too large":
        assert "200x200 (0 MP) needs about 1.6 GB, 1.5 GB of memory" in skipped[0]
    assert not (out / "odd.png").exists()


# ---------------------------------------------------------------------------- paths
def test_a_tilde_after_an_equals_sign_is_the_home_folder(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    shutil.copy(RECIPE, home / "demo.yaml")
    shutil.copy(RECIPE.parent / "voc.yaml", home / "voc.yaml")  # its base
    recipe = "~/demo.yaml"
    image = photos(tmp_path / "in", 1)[0]
    overrides = ["--set", *tiny_overrides(demo_shards), "eval.scales=[1.0]"]
    assert (
        predict_cli.main(
            [
                str(image),
                "--recipe",
                recipe,
                f"--checkpoint={trained_run}",
                "--out=~/preds",
                *overrides,
            ]
        )
        == 0
    )
    assert (
        export_cli([recipe, f"--checkpoint={trained_run}", "--out=~/model", *overrides])
        == 0
    )
    assert (
        evaluate_cli.main(
            [
                recipe,
                f"--checkpoint={trained_run}",
                "--json=~/e.json",
                "--no-progress",
                *overrides,
            ]
        )
        == 0
    )
    assert (home / "preds" / "photo0.png").is_file()
    assert (home / "model" / "saved_model.pb").is_file()
    assert (home / "e.json").is_file()
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(
    "case",
    [
        "json into a missing folder",
        "json onto a folder",
        "predictions onto a file",
        "predictions unwritable",
        "predict onto a file",
        "predict unwritable",
        "export unwritable",
        "weights onto a folder",
        "weights unwritable",
        "demo unwritable",
        "demo onto a file",
    ],
)
def test_an_output_that_cannot_be_written_is_one_line(
    demo_shards, trained_run, tmp_path, case, capsys
):
    from tfdeeplab import demo

    blocker = tmp_path / "a file"
    blocker.write_text("")
    folder = tmp_path / "a folder"
    folder.mkdir()
    checkpoint = ["--checkpoint", str(trained_run)]
    if case == "json into a missing folder":
        code = evaluate(demo_shards, *checkpoint, "--json", str(tmp_path / "no" / "e"))
    elif case == "json onto a folder":
        code = evaluate(demo_shards, *checkpoint, "--json", str(folder))
    elif case.startswith("predictions"):
        target = blocker if case.endswith("file") else UNWRITABLE
        code = evaluate(demo_shards, *checkpoint, "--save-predictions", str(target))
    elif case.startswith("predict "):
        target = blocker if case.endswith("file") else UNWRITABLE
        code = predict(
            demo_shards,
            *map(str, photos(tmp_path / "in", 1)),
            "--recipe",
            str(RECIPE),
            *checkpoint,
            "--out",
            str(target),
        )
    elif case == "export unwritable":
        code = export(demo_shards, *checkpoint, "--out", str(UNWRITABLE / "model"))
    elif case.startswith("weights"):
        target = tmp_path / "w.npz" if case.endswith("folder") else UNWRITABLE / "w.npz"
        if case.endswith("folder"):
            target.mkdir()
        source = tmp_path / "r.params"
        source.write_bytes(b"\x12\x01" + bytes(30))
        code = weights_cli(
            [
                "import",
                "--format",
                "mxnet",
                "--source",
                str(source),
                "--recipe",
                str(RECIPE),
                "--out",
                str(target),
            ]
        )
    else:
        target = blocker if case.endswith("file") else UNWRITABLE
        code = demo.main(["--dir", str(target), "--images", "4", "4"])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("error: "), line
    assert blocker.read_text() == "" and list(folder.iterdir()) == []


def test_weights_import_keeps_an_existing_npz_unless_forced(tmp_path, capsys):
    out = tmp_path / "w.npz"
    out.write_bytes(b"keep me")
    source = tmp_path / "r.params"
    source.write_bytes(b"irrelevant")
    code = weights_cli(
        [
            "import",
            "--format",
            "mxnet",
            "--source",
            str(source),
            "--recipe",
            str(RECIPE),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert one_error_line(capsys) == (
        f"error: {out} exists; pass --force to replace it or choose another --out"
    )
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("cache", ["a file", "unwritable"])
def test_an_op_cache_that_cannot_be_written_falls_back_with_one_warning(
    tmp_path, cache
):
    import subprocess
    import sys

    location = tmp_path / "cache" if cache == "a file" else UNWRITABLE / "ops"
    if cache == "a file":
        location.write_text("")
    code = (
        "import numpy as np; from tfdeeplab.ops.deformable_conv import "
        "deformable_conv2d, deformable_conv_available; "
        "print('available', deformable_conv_available()); "
        "x = np.ones([1, 5, 5, 2], 'float32'); "
        "y = deformable_conv2d(x, np.zeros([1, 5, 5, 18], 'float32'), "
        "np.ones([3, 3, 2, 1], 'float32'), padding=1); print('shape', y.shape)"
    )
    environment = {
        **os.environ,
        "TFDEEPLAB_OP_CACHE": str(location),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    finished = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    assert "available False" in finished.stdout and "(1, 5, 5, 1)" in finished.stdout
    warnings = [line for line in finished.stderr.splitlines() if "op cache" in line]
    assert len(warnings) == 1 and "set TFDEEPLAB_OP_CACHE" in warnings[0], (
        finished.stderr
    )


# ------------------------------------------------------------- damaged own files
def test_a_cut_cached_op_library_is_rebuilt_not_loaded(tmp_path, monkeypatch, caplog):
    import logging

    from tfdeeplab.ops import build

    monkeypatch.setenv("TFDEEPLAB_OP_CACHE", str(tmp_path / "cache"))
    sources = build.op_sources("crop_resample")
    library = build.build_op_library(sources, "crop_resample")
    whole = library.read_bytes()
    cut(library, 0.3)  # loading this would kill the process with SIGBUS
    with caplog.at_level(logging.WARNING, logger=build.__name__):
        again = build.build_op_library(sources, "crop_resample")
    assert again == library and library.read_bytes() == whole
    assert any("size or sha256 differs" in record.message for record in caplog.records)


def test_a_damaged_demo_or_compare_state_file_redoes_its_step(
    demo_shards, trained_run, tmp_path, capsys
):
    from tfdeeplab.comparison.runs import _read_json
    from tfdeeplab.demo import DemoSteps

    state = tmp_path / "demo_steps.json"
    state.write_text("{ not json")
    steps = DemoSteps(tmp_path, log=print)
    assert steps.done == {} and not steps.reused("evaluate", "ckpt-6", [])
    assert f"note: {state} is damaged" in capsys.readouterr().out
    garbled = tmp_path / "eval.json"
    garbled.write_text("[1, 2")
    assert _read_json(garbled, print) is None
    assert f"note: {garbled} is damaged" in capsys.readouterr().out


def _cut_inside_the_record_of(path: Path, tag: str, step: int) -> None:
    """Cut a TFRecord file of events in the middle of the record holding `tag`
    at `step` (a record: length, its CRC, the data, the data's CRC)."""
    import tensorflow as tf

    data, offset = path.read_bytes(), 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        event = tf.compat.v1.Event.FromString(data[offset + 12 : offset + 12 + length])
        if event.step == step and any(v.tag == tag for v in event.summary.value):
            path.write_bytes(data[: offset + 12 + length // 2])
            return
        offset += 16 + length
    raise AssertionError(f"no {tag} at step {step} in {path}")


def test_a_cut_event_file_gives_the_points_before_the_cut(
    trained_run, tmp_path, capsys
):
    from tfdeeplab.comparison.runs import read_scalars

    board = tmp_path / "tensorboard"
    shutil.copytree(trained_run / "tensorboard", board)
    whole = read_scalars(board, ("train/loss",))["train/loss"]
    # The training's file (evaluations of the run add files of their own).
    event_file = next(
        path
        for path in sorted(board.glob("events.out.tfevents.*"))
        if read_scalars(board, ("train/loss",))["train/loss"]
        and b"train/loss" in path.read_bytes()
    )
    _cut_inside_the_record_of(event_file, "train/loss", step=4)
    lines = []
    some = read_scalars(board, ("train/loss",), log=lines.append)["train/loss"]
    assert 0 < len(some) < len(whole) and some == whole[: len(some)]
    assert len(lines) == 1 and lines[0].startswith(f"note: {event_file}: cut short")


# ---------------------------------------------------------------- bad weight files
def _mxnet(path: Path, arrays: list, names: list[bytes]) -> Path:
    data = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for array in arrays:
        data += struct.pack("<IiI", 0xF993FAC9, 0, array.ndim)
        data += struct.pack(f"<{array.ndim}q", *array.shape)
        data += struct.pack("<iii", 1, 0, 0) + array.astype("<f4").tobytes()
    data += struct.pack("<Q", len(names))
    for name in names:
        data += struct.pack("<Q", len(name)) + name
    path.write_bytes(data)
    return path


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _caffemodel(path: Path, blob: bytes) -> Path:
    layer = _field(1, b"conv1") + _field(2, b"Convolution") + _field(7, blob)
    path.write_bytes(_field(100, layer))
    return path


def _h5(path: Path, layers: list[str], weights: dict) -> Path:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        for layer, names in weights.items():
            handle.create_group(layer).attrs["weight_names"] = [
                n.encode() for n in names
            ]
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("mxnet without arrays", "an MXNet .params file with no arrays"),
        ("mxnet name not utf-8", "name 0 is not UTF-8"),
        ("caffe blob of odd length", "a blob's data is 6 bytes, not a whole number"),
        ("caffe shape overflowing", "a blob of shape [4294967296, 4294967296] holds"),
        ("keras missing group", "layer_names names 'conv1_conv', which the file"),
        ("keras missing dataset", "weight_names names 'conv1_conv/kernel:0', which"),
        ("keras without layers", "its layer_names lists no layers"),
    ],
)
@pytest.mark.parametrize("command", ["inspect", "import"])
def test_bad_weight_files_are_one_line_naming_the_file(
    tmp_path, case, message, command, capsys
):
    if case.startswith("mxnet"):
        path, fmt = tmp_path / "w.params", "mxnet"
        if case.endswith("arrays"):
            _mxnet(path, [], [])
        else:
            _mxnet(path, [np.zeros(2)], [b"\xff\xfe"])
    elif case.startswith("caffe"):
        path, fmt = tmp_path / "w.caffemodel", "caffe"
        if "odd" in case:
            _caffemodel(path, _field(5, bytes(6)))
        else:
            shape = _varint(1 << 3) + _varint(1 << 32)
            _caffemodel(path, _field(7, shape + shape) + _field(5, b""))
    else:
        path, fmt = tmp_path / "w.h5", "keras"
        if case.endswith("group"):
            _h5(path, ["conv1_conv"], {})
        elif case.endswith("dataset"):
            _h5(path, ["conv1_conv"], {"conv1_conv": ["conv1_conv/kernel:0"]})
        else:
            _h5(path, [], {})
    out = tmp_path / "out.npz"
    if command == "inspect":
        code = weights_cli(["inspect", str(path)])
    else:
        code = weights_cli(
            [
                "import",
                "--format",
                fmt,
                "--source",
                str(path),
                "--recipe",
                str(RECIPE),
                "--out",
                str(out),
            ]
        )
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert not out.exists()


def test_a_keras_file_that_is_not_a_zip_is_one_line(demo_shards, tmp_path, capsys):
    weights = tmp_path / "model.keras"
    weights.write_bytes(b"not a zip")
    assert evaluate(demo_shards, "--weights", str(weights)) == 2
    assert one_error_line(capsys) == (
        f"error: {weights}: not a readable Keras archive of this model (File is not "
        "a zip file)"
    )


# ----------------------------------------------------------- interrupts and workers
def test_ctrl_c_in_export_writes_nothing(
    demo_shards, trained_run, tmp_path, monkeypatch, capsys
):
    import tensorflow as tf

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", interrupted)
    out = tmp_path / "model"
    assert (
        export(demo_shards, "--checkpoint", str(trained_run), "--out", str(out)) == 130
    )
    assert one_error_line(capsys) == (
        f"error: interrupted: nothing was written to {out}; run the same command to "
        "export"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage", ["sources", "conversion"])
def test_ctrl_c_in_the_demos_data_step_is_one_line_and_the_demo_continues(
    tmp_path, stage, monkeypatch, capsys
):
    from tfdeeplab import demo
    from tfrecords_tools import voc

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    target = "_write_demo_sources" if stage == "sources" else None
    if target:
        monkeypatch.setattr(demo, target, interrupted)
    else:
        monkeypatch.setattr(voc, "convert_voc", interrupted)
    arguments = [
        "--dir",
        str(tmp_path / "demo"),
        "--images",
        "4",
        "2",
        "--image-size",
        "32",
        "40",
        "--set",
        "train.max_steps=1",
    ]
    assert demo.main(arguments) == 130
    data = tmp_path / "demo" / "data"
    assert one_error_line(capsys) == (
        f"error: interrupted while writing the demo data in {data}; run the same "
        "command to continue"
    )


def test_a_dead_crf_worker_names_the_image_id_only(tiny_model_config, monkeypatch):
    import signal

    import tensorflow as tf

    from tfdeeplab.evaluation import crf_pool
    from tfdeeplab.evaluation.crf_pool import CrfWorkerError
    from tfdeeplab.evaluation.evaluator import evaluate_split
    from tfdeeplab.evaluation.inference import InferenceSettings
    from tfdeeplab.models import build_model

    submit = crf_pool.CrfPool.submit

    def submit_then_kill(pool, *args):
        future = submit(pool, *args)
        future.result()
        for process in list(pool._executor._processes.values()):
            os.kill(process.pid, signal.SIGKILL)  # as the kernel's OOM killer does
        return submit(pool, *args)

    monkeypatch.setattr(crf_pool.CrfPool, "submit", submit_then_kill)
    image = np.zeros((40, 40, 3), np.float32)
    examples = tf.data.Dataset.from_tensors(
        {
            "image": image,
            "rgb": image.astype(np.uint8),
            "label": np.zeros((40, 40), np.int32),
            "id": "2007_000042",
        }
    )
    with pytest.raises(CrfWorkerError) as raised:
        evaluate_split(
            build_model(tiny_model_config),
            examples,
            InferenceSettings(),
            5,
            crf={"iterations": 1},
            crf_workers=1,
            progress=False,
        )
    message = str(raised.value)
    assert "2007_000042" in message and len(message) < 200 and "\n" not in message


def test_a_checkpoint_of_another_model_is_one_line_and_nothing_more(
    demo_shards, trained_run, capfd
):
    import subprocess
    import sys

    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfdeeplab.evaluate",
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
            "model.fc6_channels=32",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 2
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "fc6/kernel" in lines[0], finished.stderr


# --------------------------------------------------------- input validation, memory
def _sbd_tree(tmp_path, label_shape):
    from scipy.io import savemat

    from tfdeeplab.synthetic_datasets import voc_id, write_voc_tree

    ids = [voc_id(i) for i in range(3)]
    voc_root = write_voc_tree(tmp_path / "src", ids[:1], ids[1:2], size=(8, 8))
    sbd = tmp_path / "sbd"
    (sbd / "cls").mkdir(parents=True)
    (sbd / "img").mkdir()
    (sbd / "train.txt").write_text(ids[2] + "\n")
    (sbd / "val.txt").write_text("")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(sbd / "img" / f"{ids[2]}.jpg")
    savemat(
        sbd / "cls" / f"{ids[2]}.mat",
        {"GTcls": {"Segmentation": np.zeros(label_shape, np.uint8)}},
    )
    return voc_root, sbd, ids


@pytest.mark.parametrize("case", ["empty list", "1x1 label", "list not utf-8"])
def test_converter_input_faults_are_listed_or_one_line(tmp_path, case, capsys):
    from tfrecords_tools import voc

    voc_root, sbd, ids = _sbd_tree(tmp_path, (1, 1))
    lists = voc_root / "ImageSets" / "Segmentation"
    out = tmp_path / "out"
    arguments = [
        "--voc-root",
        str(voc_root),
        "--sbd-root",
        str(sbd),
        "--out",
        str(out),
        "--quiet",
        "--workers",
        "1",
    ]
    if case == "empty list":
        (lists / "val.txt").write_text("\n")
    elif case == "list not utf-8":
        (lists / "train.txt").write_bytes(b"2007_\xe9\n")
    code = voc.main(arguments)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if case == "empty list":
        assert code == 1 and "val: no images to convert (VOC val.txt lists none)" in (
            captured.err
        )
        assert not list(out.glob("val-*"))
    elif case == "1x1 label":  # a label of another size than its image: listed
        assert code == 1
        assert f"{ids[2]}.mat: label size 1x1 differs from image size 8x8" in (
            captured.err
        )
    else:
        errors = [line for line in captured.err.splitlines() if line.startswith("err")]
        assert code == 2 and len(errors) == 1
        assert errors[0].startswith(f"error: {lists / 'train.txt'}: not UTF-8 text")


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--images", "0", "0"], "--images: expected at least 1, got 0"),
        (["--image-size", "1", "1"], "--image-size 1 1: expected at least 16 pixels"),
        (["--images", "2", "1"], "at least 4 training images (train.batch_size)"),
    ],
)
def test_impossible_demo_settings_are_one_line(tmp_path, arguments, message, capsys):
    from tfdeeplab import demo

    try:
        code = demo.main(["--dir", str(tmp_path / "demo"), *arguments])
    except SystemExit as exit:  # argparse's usage error
        code = exit.code
    assert code == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "demo" / "data" / "sources").exists()


def test_compare_refuses_negative_replicas_in_one_line(tmp_path, capsys):
    from tfdeeplab import compare

    with pytest.raises(SystemExit) as raised:
        compare.main(["recipes/voc.yaml", "--out", str(tmp_path), "--replicas", "-1"])
    assert raised.value.code == 2
    assert "--replicas: expected at least 0, got -1" in one_error_line(capsys)


def test_evaluate_names_a_corrupt_shard_and_the_verify_command(
    demo_shards, tmp_path, trained_run, capsys
):
    shards = tmp_path / "shards"
    shutil.copytree(demo_shards, shards)
    shard = next(shards.glob("val-*.tfrecord"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    code = evaluate_cli.main(
        [
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--no-progress",
            "--set",
            *tiny_overrides(shards),
        ]
    )
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {shard}: unreadable record")
    assert f"python -m tfrecords_tools.voc --out {shards} --verify" in line


def test_set_ends_at_a_word_without_an_equals_sign(demo_shards, trained_run, tmp_path):
    image = photos(tmp_path / "in", 1)[0]
    out = tmp_path / "out"
    code = predict_cli.main(
        [
            "--recipe",
            str(RECIPE),
            "--checkpoint",
            str(trained_run),
            "--set",
            *tiny_overrides(demo_shards),
            "eval.scales=[1.0]",
            str(image),
            "--out",
            str(out),
        ]
    )
    assert code == 0 and (out / "photo0.png").is_file()


def test_a_set_word_right_after_set_without_equals_is_refused(capsys):
    with pytest.raises(SystemExit) as raised:
        train_cli.main([str(RECIPE), "--set", "photo.jpg"])
    assert raised.value.code == 2
    assert "--set: expected KEY=VALUE, got 'photo.jpg'" in one_error_line(capsys)


def test_the_build_commands_help_is_help(capsys):
    from tfdeeplab.ops.build import main

    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    assert "usage: python -m tfdeeplab.ops.build" in capsys.readouterr().out


def test_training_on_shards_without_a_manifest_says_so(demo_shards, tmp_path, capsys):
    shards = tmp_path / "shards"
    shutil.copytree(demo_shards, shards)
    (shards / "manifest.json").unlink()
    assert train(shards, tmp_path / "run", "train.max_steps=1") == 0
    assert (
        f"note: {shards} has no manifest.json: its shards are read as found, unchecked"
    ) in capsys.readouterr().out


@pytest.mark.slow
def test_a_command_starts_without_tensorflows_cuda_complaint(tmp_path):
    """No `failed call to cuInit` on a machine without an NVIDIA driver; the
    command's own error still shows."""
    import subprocess
    import sys

    from tfdeeplab.cli import _has_nvidia_driver

    if _has_nvidia_driver():
        pytest.skip("this machine has an NVIDIA driver: cuInit succeeds here")
    environment = {
        key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"
    }
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfdeeplab.describe",
            str(RECIPE),
            "--set",
            "data.crop_size=[33, 33]",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert finished.returncode == 0, finished.stderr
    assert "cuInit" not in finished.stderr and finished.stderr.strip() == ""
    assert "parameters" in finished.stdout


@pytest.mark.parametrize("damage", ["deleted", "garbled"])
@pytest.mark.parametrize("command", ["evaluate", "export", "predict"])
def test_a_lost_checkpoint_index_hides_nothing_from_any_command(
    demo_shards, run_copy, tmp_path, damage, command, capsys
):
    """Training resumes by the checkpoint files; every other command reads the
    same newest checkpoint, not the `checkpoint` index."""
    index = run_copy / "checkpoints" / "checkpoint"
    if damage == "deleted":
        index.unlink()
    else:
        index.write_text("model_checkpoint_path: {{{ garbage\n")
    out = tmp_path / "out"
    checkpoint = ["--checkpoint", str(run_copy)]
    if command == "evaluate":
        code = evaluate(demo_shards, *checkpoint, "--json", str(out))
        assert json.loads(out.read_text())["checkpoint"].endswith("ckpt-6")
    elif command == "export":
        code = export(demo_shards, *checkpoint, "--out", str(out))
    else:
        code = predict(
            demo_shards,
            *map(str, photos(tmp_path / "in", 1)),
            "--recipe",
            str(RECIPE),
            *checkpoint,
            "--out",
            str(out),
        )
    assert code == 0
    assert str(run_copy / "checkpoints" / "ckpt-6") in capsys.readouterr().out
