"""Label maps for image files: what `python -m tfdeeplab.predict` reads and writes.

For each image: `<name>.png`, the label map as a palette PNG in the dataset's colours
(palette indices are the class ids), and `<name>_overlay.jpg`, the colours blended on
the photo. `<name>` is the image's stem; where stems collide (`a/x.jpg` and
`b/x.jpg`, or `y.jpg` and `y.png`) the extension and then the parent folders'
names join it (`y_jpg`, `a_x_jpg`), and an output that would land on an input gets
`_prediction` added, so no output replaces another output or an input.
`predictions.json` in the output folder records, for the model that wrote them,
each input's outputs with their sha256: the same command run again skips what is
finished (after Ctrl-C it continues), and any other output already there is
refused unless `--force`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfdeeplab import state_files
from tfdeeplab.atomic_files import write_atomically, write_json
from tfdeeplab.errors import first_line
from tfdeeplab.image_orientation import displayed, displayed_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
STATE_FILE = "predictions.json"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and the JPEG/PNG files directly inside the folders named;
    a file named twice counts once.

    Example:
        >>> image_files(["photos/", "extra.jpg"])
        [PosixPath('photos/a.jpg'), PosixPath('photos/b.png'), PosixPath('extra.jpg')]
    """
    found, seen = [], set()
    for path in (Path(p).expanduser() for p in paths):
        listed = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for item in listed:
            key = item.resolve()
            if key not in seen:
                seen.add(key)
                found.append(item)
    return found


def output_names(images: Sequence[Path]) -> list[str]:
    """A distinct output name for each image (see the module for the rule).

    Example:
        >>> output_names([Path("a/x.jpg"), Path("b/x.jpg"), Path("y.png")])
        ['a_x_jpg', 'b_x_jpg', 'y']
    """
    names = [image.stem for image in images]
    for depth in range(-1, max((len(image.parts) for image in images), default=0)):
        counts = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        clashing = [i for i, name in enumerate(names) if counts[name] > 1]
        if not clashing:
            break
        for i in clashing:
            image = images[i]
            if depth == -1:
                names[i] = f"{image.stem}_{image.suffix.lstrip('.').lower()}"
            elif depth < len(image.parent.parts):
                names[i] = f"{image.parent.parts[-1 - depth]}_{names[i]}"
    return names


def output_paths(name: str, out: Path) -> tuple[Path, Path]:
    """(label map PNG, overlay JPEG) of output `name` in `out`."""
    return out / f"{name}.png", out / f"{name}_overlay.jpg"


def planned_outputs(images: Sequence[Path], out: Path) -> list[tuple[Path, Path]]:
    """The outputs of every image: distinct, and never one of the inputs."""
    inputs = {image.resolve() for image in images}
    planned = []
    for name in output_names(images):
        paths = output_paths(name, out)
        if any(path.resolve() in inputs for path in paths):
            paths = output_paths(f"{name}_prediction", out)
        planned.append(paths)
    return planned


# What PIL raises for a file it cannot read as an image (missing, truncated, not an
# image, a decompression bomb).
_UNREADABLE_IMAGE = (
    OSError,
    UnidentifiedImageError,
    SyntaxError,
    Image.DecompressionBombError,
)


@contextlib.contextmanager
def _opened_image(path: Path) -> Iterator[Image.Image]:
    """`Image.open(path)`, whose errors and its decoding's are one ValueError; the
    caller turns it as its EXIF orientation says (`image_orientation`)."""
    try:
        with Image.open(path) as image:
            yield image
    except _UNREADABLE_IMAGE as error:
        raise ValueError(
            f"{path}: not a readable image ({first_line(error)})"
        ) from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) as the image is shown (its EXIF orientation applied), from
    the file's header, without decoding it.

    Raises:
        ValueError: one line naming the file (missing, not an image, a
            decompression bomb).
    """
    with _opened_image(path) as image:
        return displayed_size(image)


def read_rgb(path: Path) -> np.ndarray:
    """The image at `path` as uint8 RGB [H, W, 3], as it is shown: turned as its
    EXIF orientation says (a phone's portrait photo stands upright), so label maps
    and overlays come out the way viewers show the photo.

    A 16-bit image (grey PNG) is scaled to 8 bits, not clipped at 255.

    Raises:
        ValueError: one line naming the file, for a missing or unreadable file,
            one that is no image, or one too large to decode (a decompression
            bomb).
    """
    with _opened_image(path) as opened:
        image = displayed(opened)
        if image.mode in _SIXTEEN_BIT_MODES:
            values = np.asarray(image, np.int64)
            peak = 65535 if values.max(initial=0) <= 65535 else values.max()
            grey = np.round(values * (255.0 / max(peak, 1))).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=2)
        return np.asarray(image.convert("RGB"))


def overlay(
    rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """The label colours blended on the photo: (1 - alpha) photo + alpha colour."""
    colours = palette[np.clip(labels, 0, 255).astype(np.uint8)].astype(np.float32)
    blended = (1 - alpha) * rgb.astype(np.float32) + alpha * colours
    return np.clip(blended.round(), 0, 255).astype(np.uint8)


def write_prediction(
    labels: np.ndarray, rgb: np.ndarray, palette: np.ndarray, paths: Sequence[Path]
) -> list[str]:
    """Write the palette PNG and the overlay JPEG of one prediction, each whole or
    not at all; returns their sha256."""
    label_path, overlay_path = paths
    png = Image.fromarray(labels.astype(np.uint8))
    png.putpalette(palette.ravel().tolist())
    blended = Image.fromarray(overlay(rgb, labels, palette))
    write_atomically(label_path, lambda temporary: png.save(temporary, "PNG"))
    write_atomically(
        overlay_path, lambda temporary: blended.save(temporary, "JPEG", quality=90)
    )
    return [file_sha256(path) for path in paths]


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_state(out: Path) -> dict:
    """`predictions.json` of `out`: {"model": ..., "images": {input: {...}}}; an
    absent or unreadable one is empty (its outputs then count as someone else's)."""
    state = state_files.read_state(out / STATE_FILE) or {}
    return state if isinstance(state.get("images"), dict) else {}


def write_state(out: Path, model: str, images: dict) -> None:
    """Record which inputs `model` finished, and their outputs' sha256."""
    write_json(out / STATE_FILE, {"model": model, "images": images})
