"""Prediction under faults: damaged or foreign SavedModels, outputs that would
replace others, Ctrl-C, images it cannot take.

Each test provokes its fault for real and checks the exit code, the one line,
and that nothing was lost or replaced.
"""

import json
import shutil
import struct

import numpy as np
import pytest
from PIL import Image

from tests.helpers import cut, export_command, one_error_line, photos, predict_command
from tfdeeplab import predict as predict_cli
from tfdeeplab.experiment.demo_job import RECIPE


@pytest.fixture(scope="module")
def exported(demo_shards, trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "model"
    assert (
        export_command(demo_shards, "--checkpoint", str(trained_run), "--out", str(out))
        == 0
    )
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
        predict_command(
            demo_shards, *map(str, inputs.values()), str(inside), *arguments
        )
        == 0
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
        predict_command(
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
    assert predict_command(demo_shards, *arguments) == 130
    assert one_error_line(capsys) == (
        f"error: interrupted after 1 of 3 images (their outputs in {out} are "
        "complete); run the same command to continue"
    )
    monkeypatch.setattr(prediction, "write_prediction", write)
    first = (out / "photo0.png").read_bytes()
    assert predict_command(demo_shards, *arguments) == 0
    assert (
        capsys.readouterr().out.strip().endswith(f"2 written to {out}, 1 already done")
    )
    assert (out / "photo0.png").read_bytes() == first
    # An output changed since (someone else's now) is kept unless --force.
    (out / "photo1.png").write_bytes(b"mine")
    assert predict_command(demo_shards, *arguments) == 2
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
    code = predict_command(
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
