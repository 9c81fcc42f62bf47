"""Label maps for image files: what `python -m tfdeeplab.predict` writes.

For each image: `<name>.png`, the label map as a palette PNG in the dataset's colours
(palette indices are the class ids), and `<name>_overlay.jpg`, the colours blended on
the photo.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and the JPEG/PNG files directly inside the folders named.

    Example:
        >>> image_files(["photos/", "extra.jpg"])
        [PosixPath('photos/a.jpg'), PosixPath('photos/b.png'), PosixPath('extra.jpg')]
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
        else:
            found.append(path)
    return found


def read_rgb(path: Path) -> np.ndarray:
    """The image at `path` as uint8 RGB [H, W, 3].

    Raises:
        ValueError: one line naming the file, for a missing or unreadable file or
            one that is no image.
    """
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: not a readable image ({reason})") from None


def output_paths(image: Path, out: Path) -> tuple[Path, Path]:
    """(label map PNG, overlay JPEG) of `image` in `out`."""
    return out / f"{image.stem}.png", out / f"{image.stem}_overlay.jpg"


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray,
            alpha: float = 0.5) -> np.ndarray:  # fmt: skip
    """The label colours blended on the photo: (1 - alpha) photo + alpha colour."""
    colours = palette[np.clip(labels, 0, 255).astype(np.uint8)].astype(np.float32)
    blended = (1 - alpha) * rgb.astype(np.float32) + alpha * colours
    return np.clip(blended.round(), 0, 255).astype(np.uint8)


def write_prediction(
    labels: np.ndarray, rgb: np.ndarray, palette: np.ndarray, paths: Sequence[Path]
) -> None:
    """Write the palette PNG and the overlay JPEG of one prediction."""
    label_path, overlay_path = paths
    png = Image.fromarray(labels.astype(np.uint8))
    png.putpalette(palette.ravel().tolist())
    png.save(label_path)
    Image.fromarray(overlay(rgb, labels, palette)).save(overlay_path, quality=90)
