"""Reading ground truth as class ids, and writing it as a one-channel PNG.

- VOC: palette PNGs whose palette indices are the class ids (0-20, 255 = void);
  the indices are read, never the RGB colours.
- SBD: MATLAB files, struct `GTcls`, field `Segmentation` (uint8 class ids).
- Cityscapes: `*_labelIds.png` mapped to the 19 train ids (255 = ignore) with the
  official table of the `cityscapesscripts` package (read in
  `tfdeeplab.catalog.cityscapes_labels`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.catalog import cityscapes_labels


class LabelError(ValueError):
    """A label file that cannot be used; the message says why."""


def read_palette_png(path: Path) -> np.ndarray:
    """Class ids of a VOC `SegmentationClass` PNG (its palette indices).

    Args:
        path: Path. A palette ('P') or grey ('L') PNG.

    Returns:
        uint8 array [H, W].

    Raises:
        LabelError: for an RGB (colour-coded) label or an unreadable file.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise LabelError(
                    f"label mode is {image.mode}, expected palette indices (P) or L"
                )
            return np.array(image, dtype=np.uint8)
    except (OSError, SyntaxError) as error:
        raise LabelError(f"cannot decode label ({error})") from None


def read_sbd_mat(path: Path) -> np.ndarray:
    """Class ids of an SBD `cls/*.mat` file (`GTcls.Segmentation`).

    Args:
        path: Path. The .mat file.

    Returns:
        uint8 array [H, W].

    Raises:
        LabelError: for a file that is not an SBD class label.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        # Not squeezed: squeezing would turn a 1x1 label into a scalar and an Nx1
        # one into a vector of unknown orientation.
        mat = loadmat(str(path), squeeze_me=False, struct_as_record=False)
        segmentation = mat["GTcls"].reshape(-1)[0].Segmentation
    except (
        OSError,
        ValueError,
        KeyError,
        AttributeError,
        TypeError,
        IndexError,
        MatReadError,
    ) as error:  # a corrupt .mat is bad input like a corrupt JPEG
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise LabelError(
            f"cannot read GTcls.Segmentation ({type(error).__name__}: {first})"
        ) from None
    label = np.asarray(segmentation)
    if label.ndim != 2 or label.size == 0:
        raise LabelError(f"GTcls.Segmentation has shape {label.shape}, not [H, W]")
    return label.astype(np.uint8)


def cityscapes_train_id_table() -> np.ndarray:
    """256-entry lookup table labelId -> train id, from the official table.

    Ids that the official table marks as ignored (trainId 255 or -1) map to 255; byte
    values that are no Cityscapes label id map to -1 so they can be reported.
    """
    return cityscapes_labels.train_ids_of_label_ids()


def read_cityscapes_label_ids(path: Path, table: np.ndarray) -> np.ndarray:
    """Train ids of a Cityscapes `*_labelIds.png`.

    Args:
        path: Path. The labelIds PNG (one channel, uint8 label ids).
        table: np.ndarray. From `cityscapes_train_id_table()`.

    Returns:
        uint8 array [H, W] of train ids (0-18, 255 = ignore).

    Raises:
        LabelError: for an unreadable file or ids that are not Cityscapes labels.
    """
    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise LabelError(
                    f"label mode is {image.mode}, expected one channel of ids"
                )
            ids = np.array(image)
    except (OSError, SyntaxError) as error:
        raise LabelError(f"cannot decode label ({error})") from None
    if ids.max(initial=0) > 255 or ids.min(initial=0) < 0:
        raise LabelError("label ids outside 0..255")
    mapped = table[ids.astype(np.int64)]
    unknown = np.unique(ids[mapped < 0])
    if unknown.size:
        raise LabelError(f"label ids that are no Cityscapes label: {unknown.tolist()}")
    return mapped.astype(np.uint8)


def encode_label_png(label: np.ndarray) -> bytes:
    """A one-channel (mode L) PNG of class ids, deterministic for the same array."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()
