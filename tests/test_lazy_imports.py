"""Packages with lazy exports: names resolve on first use, unknown names fail."""

import pytest

import tfdeeplab.models
from tfdeeplab.lazy_imports import lazy_exports


def test_names_resolve_to_their_modules_objects():
    from tfdeeplab.models.builder import build_model

    assert tfdeeplab.models.build_model is build_model
    assert "build_model" in dir(tfdeeplab.models)
    assert "build_model" in tfdeeplab.models.__all__


def test_names_kept_at_their_earlier_place_are_the_same_objects():
    import tfdeeplab.training
    from tfdeeplab.experiment import RunSummary, train

    assert tfdeeplab.training.train is train
    assert tfdeeplab.training.RunSummary is RunSummary

    import tfdeeplab.predict
    import tfdeeplab.training.trainer as trainer
    from tfdeeplab.experiment import predict_job, train_job

    for name in ("RunSummary", "open_run", "run_notes", "train"):
        assert getattr(trainer, name) is getattr(train_job, name)
    assert tfdeeplab.predict.SavedModelError is predict_job.SavedModelError
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        getattr(trainer, "missing")  # noqa: B009


def test_the_earlier_recipe_loader_reports_one_line(tmp_path, capsys):
    from tfdeeplab.config.cli import load_recipe_or_report

    recipe = load_recipe_or_report("recipes/demo.yaml", ["train.max_steps=5"])
    assert recipe.train.max_steps == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1\n")
    assert load_recipe_or_report(bad, []) is None
    error = capsys.readouterr().err
    assert error.startswith(f"error: {bad}") and error.count("\n") == 1


def test_unknown_names_are_attribute_errors():
    getattr_, dir_, all_ = lazy_exports(
        "tfdeeplab.models", {"builder": ["build_model"]}
    )
    assert all_ == ["build_model"] and dir_() == ["build_model"]
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        getattr_("nothing")
    with pytest.raises(ImportError):
        from tfdeeplab.models import nothing  # noqa: F401


@pytest.mark.parametrize(
    "package",
    [
        "tfdeeplab.data",
        "tfdeeplab.evaluation",
        "tfdeeplab.experiment",
        "tfdeeplab.models",
        "tfdeeplab.training",
    ],
)
def test_every_export_exists(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
