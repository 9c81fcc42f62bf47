"""Initial weights load from local files only, by variable path, with clear errors."""

import numpy as np
import pytest

from tfdeeplab.models import build_model
from tfdeeplab.training.initial_weights import (
    InitialWeightsError,
    load_initial_weights,
    require_weights_file,
)


def test_npz_loads_the_variables_it_names_and_leaves_the_rest(
    tiny_model_config, tmp_path
):
    source, target = build_model(tiny_model_config), build_model(tiny_model_config)
    backbone = {
        w.path: w.numpy() for w in source.weights if not w.path.startswith("score")
    }
    np.savez(tmp_path / "backbone.npz", **backbone)
    score_before = target.get_layer("score").kernel.numpy()

    report = load_initial_weights(target, tmp_path / "backbone.npz")

    assert report["loaded"] == len(backbone) and report["left_at_init"] > 0
    loaded = {w.path: w.numpy() for w in target.weights}
    for path, value in backbone.items():
        np.testing.assert_array_equal(loaded[path], value)
    np.testing.assert_array_equal(target.get_layer("score").kernel, score_before)


def test_keras_weights_file_loads_whole(tiny_model_config, tmp_path):
    source, target = build_model(tiny_model_config), build_model(tiny_model_config)
    source.save_weights(tmp_path / "model.weights.h5")
    load_initial_weights(target, tmp_path / "model.weights.h5")
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_errors_name_the_file_and_key(tiny_model_config, tmp_path):
    model = build_model(tiny_model_config)
    with pytest.raises(FileNotFoundError, match="missing.npz.*nothing is downloaded"):
        load_initial_weights(model, tmp_path / "missing.npz")
    np.savez(tmp_path / "typo.npz", **{"res2a_branch2a/kernl": np.zeros(1)})
    with pytest.raises(InitialWeightsError, match="typo.npz: res2a_branch2a/kernl"):
        load_initial_weights(model, tmp_path / "typo.npz")
    kernel = model.get_layer("score").kernel
    np.savez(tmp_path / "shape.npz", **{kernel.path: np.zeros([1, 1, 3, 5])})
    with pytest.raises(InitialWeightsError, match="expected shape"):
        load_initial_weights(model, tmp_path / "shape.npz")
    (tmp_path / "weights.pkl").write_bytes(b"")
    with pytest.raises(InitialWeightsError, match="expected a .npz or .weights.h5"):
        load_initial_weights(model, tmp_path / "weights.pkl")


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "start.npz").write_bytes(b"")
    assert require_weights_file("~/start.npz") == tmp_path / "start.npz"
    with pytest.raises(FileNotFoundError, match="missing.npz: initial weights file"):
        require_weights_file("~/missing.npz")


def test_what_is_no_weights_archive_is_said_so_and_never_unpickled(
    tiny_model_config, tmp_path, capsys
):
    model = build_model(tiny_model_config)
    (tmp_path / "notes.npz").write_text("step 1: train\nstep 2: evaluate\n")
    with pytest.raises(InitialWeightsError) as raised:
        load_initial_weights(model, tmp_path / "notes.npz")
    assert str(raised.value) == (
        f"{tmp_path / 'notes.npz'}: not a weights archive (a .npz is a zip of "
        "arrays; this file is not one)"
    )
    # A zip of a Python object (a pickle inside): refused without loading it.
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InitialWeightsError) as raised:
        load_initial_weights(model, tmp_path / "objects.npz")
    assert "holds Python objects, which are never loaded" in str(raised.value)
    assert "allow_pickle" not in str(raised.value)


def test_a_keras_file_of_another_model_is_one_error_without_warnings(
    tiny_model_config, tmp_path, recwarn
):
    import keras

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other.save_weights(tmp_path / "other.weights.h5")
    model = build_model(tiny_model_config)
    recwarn.clear()
    with pytest.raises(InitialWeightsError, match="other.weights.h5"):
        load_initial_weights(model, tmp_path / "other.weights.h5")
    skipped = [w for w in recwarn if issubclass(w.category, UserWarning)]
    assert not skipped, [str(w.message) for w in skipped]
