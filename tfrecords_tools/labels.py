"""Reading ground truth as class ids, and writing it as a one-channel PNG.

- VOC: palette PNGs whose palette indices are the class ids (0-20, 255 = void);
  the indices are read, never the RGB colours.
- SBD: MATLAB files, struct `GTcls`, field `Segmentation` (uint8 class ids).
- Cityscapes: `*_labelIds.png` mapped to the 19 train ids (255 = ignore) with the
  official table of the `cityscapesscripts` package (read in
  `tfdeeplab.catalog.cityscapes_labels`).
- Folder masks: ids, palette or RGB PNGs (`read_folder_mask`).
- COCO instances: rasterised by pycocotools (`rasterise_coco`, see `coco.py` for
  the rules: later instances over earlier, overlaps and crowds ignored).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.catalog import cityscapes_labels
from tfdeeplab.image_orientation import displayed


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
            return np.array(displayed(image), dtype=np.uint8)
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
            ids = np.array(displayed(image))
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


MASK_FORMATS = ("ids", "palette", "rgb")


def mask_format_of(path: Path) -> str:
    """The mask format a file is in, from its mode: `rgb` (RGB, RGBA), `palette`
    (P), else `ids` (L, I;16, I).

    Raises:
        LabelError: for an unreadable file or another mode.
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
    except (OSError, SyntaxError) as error:
        raise LabelError(f"cannot decode mask ({error})") from None
    if mode in ("RGB", "RGBA"):
        return "rgb"
    if mode == "P":
        return "palette"
    if mode in ("L", "LA", "I;16", "I;16B", "I;16L", "I"):
        return "ids"
    raise LabelError(f"mask mode is {mode}, expected ids (L, I;16), P or RGB")


def read_folder_mask(
    path: Path,
    mask_format: str,
    colours: tuple[tuple[int, int, int], ...] = (),
    reduce_zero_label: bool = False,
    ignore_label: int = 255,
) -> np.ndarray:
    """Class ids of a mask of `python -m tfrecords_tools.folder`.

    Args:
        path: Path. The mask (PNG).
        mask_format: str. `ids` (one channel of ids, 8 or 16 bit), `palette` (the
            palette indices are the ids) or `rgb` (colours, mapped by `colours`).
        colours: tuple of (r, g, b). Class id i's colour, for `rgb` masks; the
            ignore label's colour may be among them at index `ignore_label`.
        reduce_zero_label: bool. Id 0 is unlabelled (the ignore label) and the
            other ids shift down by one (ADE20K's convention).
        ignore_label: int. The label of pixels that do not count.

    Returns:
        uint8 array [H, W] of class ids (or the ignore label). Transparent pixels
        (alpha 0 in an RGBA or LA mask, as image editors and Label Studio leave
        unlabelled ones) are the ignore label.

    Raises:
        LabelError: an unreadable file, a mode that is not `mask_format`, colours
            not in `colours` (each with its pixel count), or ids past 255.

    Example:
        >>> read_folder_mask(Path("masks/0001_L.png"), "rgb", ((0, 0, 0), (128, 0, 0)))
    """
    try:
        with Image.open(path) as opened:
            image = displayed(opened)
            mode = image.mode
            transparent = None
            if mode in ("RGBA", "LA"):
                transparent = np.array(image.getchannel("A")) == 0
                image = image.convert("RGB" if mode == "RGBA" else "L")
            if mask_format == "rgb":
                values = np.array(image.convert("RGB"))
            else:
                values = np.array(image)
    except (OSError, SyntaxError) as error:
        raise LabelError(f"cannot decode mask ({error})") from None
    if mask_format == "palette" and mode != "P":
        raise LabelError(f"mask mode is {mode}, expected a palette PNG (P)")
    if mask_format == "ids" and values.ndim != 2:
        raise LabelError(f"mask mode is {mode}, expected one channel of ids")
    if mask_format == "rgb":
        ids = _ids_of_colours(values, colours, transparent)
    else:
        ids = values.astype(np.int64)
    if reduce_zero_label:
        ids = np.where(ids == 0, ignore_label + 1, ids) - 1
        ids[ids == ignore_label - 1] = ignore_label  # an ignored 255 stays ignored
    if transparent is not None:
        ids[transparent] = ignore_label
    too_large = np.unique(ids[(ids > 255) | (ids < 0)])
    if too_large.size:
        shown = ", ".join(str(value) for value in too_large[:8].tolist())
        raise LabelError(f"mask ids past 255 (a class id is one byte): {shown}")
    return ids.astype(np.uint8)


def _ids_of_colours(rgb: np.ndarray, colours, transparent=None) -> np.ndarray:
    """Class ids of an RGB mask by its colours; unknown colours are an error but
    under `transparent` pixels (bool [H, W] or None), which the caller sets."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8)
    codes |= rgb[..., 2]
    if transparent is not None and transparent.any():
        red, green, blue = colours[0]  # any known colour: the caller overwrites them
        codes[transparent] = (red << 16) | (green << 8) | blue
    table = {(r << 16) | (g << 8) | b: index for index, (r, g, b) in enumerate(colours)}
    found, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    unknown = [
        (int(code), int(count))
        for code, count in zip(found, counts, strict=True)
        if int(code) not in table
    ]
    if unknown:
        shown = ", ".join(
            f"({code >> 16}, {(code >> 8) & 255}, {code & 255}) {count} px"
            for code, count in unknown[:6]
        )
        more = f" and {len(unknown) - 6} more" if len(unknown) > 6 else ""
        raise LabelError(f"colours not in the classes file: {shown}{more}")
    ids = np.array([table[int(code)] for code in found], np.int64)
    return ids[inverse.reshape(codes.shape)]


COCO_IGNORE_LABEL = 255  # overlaps and crowds in a rasterised COCO label


def is_integer(value) -> bool:
    """A JSON integer: an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_polygons(parts: list, height: int, width: int) -> None:
    """Refuse polygons whose rasterising would cost far more than the image.

    pycocotools walks every polygon edge pixel by pixel at 5 times the image's
    resolution: one coordinate of 1e308 makes that walk unbounded. A coordinate
    must be a finite number within one image size around the image, and the
    polygons' summed perimeter at most that of every pixel of the image outlined
    (2 H W), plus the image's own outline with its margin.

    Raises:
        ValueError: one line saying which bound a polygon breaks.
    """
    if not parts or not all(
        isinstance(part, list) and len(part) >= 6 and len(part) % 2 == 0
        for part in parts
    ):
        raise ValueError("a polygon needs at least 3 points of x, y")
    perimeter = 0.0
    for part in parts:
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in part
        ):
            raise ValueError("polygon coordinates must be numbers")
        points = np.asarray(part, np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise ValueError("a polygon coordinate is not finite")
        low, high = np.array([-width, -height]), np.array([2 * width, 2 * height])
        if (points < low).any() or (points > high).any():
            x, y = points[((points < low) | (points > high)).any(axis=1)][0]
            raise ValueError(
                f"polygon point ({x:g}, {y:g}) lies more than an image size outside "
                f"the {width}x{height} image"
            )
        closed = np.vstack([points, points[:1]])
        perimeter += float(np.hypot(*np.diff(closed, axis=0).T).sum())
    bound = 2.0 * height * width + 12.0 * (height + width)
    if perimeter > bound:
        raise ValueError(
            f"polygons {perimeter:.0f} px long, more than {bound:.0f} on a "
            f"{width}x{height} image"
        )


def rasterise_coco(
    height: int, width: int, instances: tuple, mapping: tuple
) -> np.ndarray:
    """The label map of one COCO image (rules: `tfrecords_tools.coco`).

    Args:
        height, width: int. The image's size in the JSON.
        instances: tuple of (category id, iscrowd, segmentation as JSON text).
        mapping: tuple of (category id, class id) pairs.

    Raises:
        ValueError: a segmentation that does not parse.
    """
    from pycocotools import mask as coco_mask

    classes = dict(mapping)
    label = np.zeros((height, width), np.uint8)
    covered = np.zeros((height, width), np.int32)
    crowd = np.zeros((height, width), bool)
    for category, iscrowd, text in instances:
        if category not in classes:
            continue
        mask = coco_mask.decode(coco_rle(json.loads(text), height, width)).astype(bool)
        if iscrowd:
            crowd |= mask
            continue
        label[mask] = classes[category]
        covered += mask
    label[(covered > 1) | crowd] = COCO_IGNORE_LABEL
    return label


def coco_rle(segmentation, height: int, width: int):
    """One RLE of a polygon list, an uncompressed or a compressed RLE."""
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, list):  # polygons, one or several parts
        check_polygons(segmentation, height, width)
        return coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))
    if isinstance(segmentation, dict) and "counts" in segmentation:
        size = segmentation.get("size")
        if size != [height, width]:
            shown = (
                f"{size[1]}x{size[0]}"
                if isinstance(size, list) and len(size) == 2
                else json.dumps(size)
            )
            raise ValueError(
                f"an RLE of size {shown} on an image of size {width}x{height}"
            )
        counts = segmentation["counts"]
        if isinstance(counts, list):  # uncompressed
            if not all(is_integer(c) and c >= 0 for c in counts) or (
                sum(counts) != height * width
            ):
                raise ValueError(
                    f"an uncompressed RLE whose counts do not add up to {width}x"
                    f"{height} pixels"
                )
            return coco_mask.frPyObjects(segmentation, height, width)
        if not isinstance(counts, str):
            raise ValueError("an RLE's counts must be a list or a string")
        return {"size": size, "counts": counts.encode()}
    raise ValueError("expected polygons or an RLE")
