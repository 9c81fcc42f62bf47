"""Fixtures of the op tests."""

import pytest


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDEEPLAB_OP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
