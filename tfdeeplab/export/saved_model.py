"""Writing a `SegmentationServer` as a SavedModel, whole or not at all.

The SavedModel is written into a hidden staging folder beside `out`
(`tfdeeplab.atomic_files`) and renamed into place when complete, so an interrupted
export leaves no half-written model, and the staging folder of a killed one is
removed by the next export. An existing `out` is replaced only with `force`, and
only when it is a SavedModel or an empty folder: `force` never replaces a folder
holding anything else (a run directory, the checkpoint being exported). Its
`assets/` hold the files a consumer needs to read the outputs (`recipe.yaml`,
`labels.json`), tracked as `tf.saved_model.Asset`s so they travel with the model
and their paths are `loaded.assets[name].asset_path` after loading.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tensorflow as tf

from tfdeeplab.atomic_files import OutputError, atomic_path
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.export.serving import SegmentationServer

SIGNATURES = ("serving_default", "serving_bytes")
# What `tf.saved_model.save` writes; a folder of these alone is a SavedModel.
SAVED_MODEL_ENTRIES = {
    "saved_model.pb",
    "saved_model.pbtxt",
    "variables",
    "assets",
    "fingerprint.pb",
    "keras_metadata.pb",
}


class ExportExistsError(TfdeeplabError, FileExistsError):
    """The output exists and may not be replaced (no `force`, or not a SavedModel)."""


def is_saved_model(path: Path) -> bool:
    """True for a folder that holds a SavedModel and nothing else."""
    if not path.is_dir() or path.is_symlink():
        return False
    entries = {entry.name for entry in path.iterdir()}
    has_graph = bool(entries & {"saved_model.pb", "saved_model.pbtxt"})
    return has_graph and entries <= SAVED_MODEL_ENTRIES


def check_replaceable(out: Path, force: bool) -> None:
    """Refuse an `out` the export may not replace.

    Raises:
        ExportExistsError: `out` exists and is not an empty folder, without
            `force`; or it is neither a SavedModel nor an empty folder, whatever
            `force` says.
    """
    if not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    if not is_saved_model(out):
        raise ExportExistsError(
            f"{out} exists and is not a SavedModel; `force=True` replaces "
            "only a SavedModel or an empty folder: choose another `out`"
        )
    if not force:
        raise ExportExistsError(
            f"{out} exists; pass `force=True` to replace it or choose another `out`"
        )


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
        force: bool. Replace an existing SavedModel at `out`. Defaults to False.

    Returns:
        Path of the SavedModel folder.

    Raises:
        ExportExistsError: `out` may not be replaced (see `check_replaceable`).
        OutputError: `out` cannot be written (no permission, a full disk); nothing
            is left behind.

    Example:
        >>> export_saved_model(serving_server(recipe, model), "exported/voc",
        ...                    export_assets(recipe))
        PosixPath('exported/voc')
    """
    out = Path(out).expanduser()
    check_replaceable(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{out}: cannot write it ({error.strerror})") from None
    with (
        tempfile.TemporaryDirectory() as sources,
        atomic_path(out, directory=True) as staging,
    ):
        server.assets = {}
        for name, text in assets.items():
            (Path(sources) / name).write_text(text, encoding="utf-8")
            server.assets[name] = tf.saved_model.Asset(str(Path(sources) / name))
        signatures = {
            name: getattr(server, name).get_concrete_function() for name in SIGNATURES
        }
        try:
            tf.saved_model.save(server, str(staging), signatures=signatures)
        except tf.errors.OpError as error:  # e.g. a full disk
            message = error.message.strip().splitlines()[0]
            raise OutputError(f"{out}: cannot write it ({message})") from None
    return out
