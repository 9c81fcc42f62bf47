"""Packages with lazy exports: names resolve on first use, unknown names fail."""

import pytest

import tfdeeplab.models
from tfdeeplab.lazy_imports import lazy_exports


def test_names_resolve_to_their_modules_objects():
    from tfdeeplab.models.builder import build_model

    assert tfdeeplab.models.build_model is build_model
    assert "build_model" in dir(tfdeeplab.models)
    assert "build_model" in tfdeeplab.models.__all__


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
        "tfdeeplab.models",
        "tfdeeplab.training",
    ],
)
def test_every_export_exists(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
