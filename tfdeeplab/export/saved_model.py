"""Writing a `SegmentationServer` as a SavedModel, whole or not at all.

The SavedModel is written into a hidden staging folder beside `out` and renamed
into place when complete, so an interrupted export leaves no half-written model
and an existing one is replaced only with `force` (and only once the new one is
complete). Its `assets/` hold the files a consumer needs to read the outputs
(`recipe.yaml`, `labels.json`), tracked as `tf.saved_model.Asset`s so they travel
with the model and their paths are `loaded.assets[name].asset_path` after loading.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.export.serving import SegmentationServer

SIGNATURES = ("serving_default", "serving_bytes")


class ExportExistsError(TfdeeplabError, FileExistsError):
    """The output folder exists and `force` was not given."""


def export_saved_model(
    server: SegmentationServer,
    out: str | os.PathLike,
    assets: dict[str, str],
    *,
    force: bool = False,
) -> Path:
    """Save `server` with its two signatures and `assets` as a SavedModel at `out`.

    Args:
        server: SegmentationServer.
        out: str or PathLike. The SavedModel folder to create.
        assets: dict from file name to text, e.g. `export_assets(recipe)`.
        force: bool. Replace an existing `out`. Defaults to False.

    Returns:
        Path of the SavedModel folder.

    Raises:
        ExportExistsError: `out` exists (and is not an empty folder) without `force`.

    Example:
        >>> export_saved_model(serving_server(recipe, model), "exported/voc",
        ...                    export_assets(recipe))
        PosixPath('exported/voc')
    """
    out = Path(out).expanduser()
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise ExportExistsError(
            f"{out} exists; pass --force to replace it or choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        asset_files = staging / "asset_sources"
        asset_files.mkdir()
        server.assets = {}
        for name, text in assets.items():
            (asset_files / name).write_text(text, encoding="utf-8")
            server.assets[name] = tf.saved_model.Asset(str(asset_files / name))
        model_dir = staging / "saved_model"
        signatures = {
            name: getattr(server, name).get_concrete_function() for name in SIGNATURES
        }
        tf.saved_model.save(server, str(model_dir), signatures=signatures)
        _replace(model_dir, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _replace(new: Path, out: Path) -> None:
    """Move `new` to `out`; an old `out` is removed only after the move."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
