"""The colours each dataset draws its label maps in, as 256-entry colour maps."""

from __future__ import annotations

import numpy as np

from tfdeeplab.catalog import cityscapes_labels


def voc_palette() -> np.ndarray:
    """PASCAL VOC's 256-entry colour map (the bit-interleaved `labelcolormap`).

    Returns:
        uint8 array [256, 3]; index 255 (void) is (224, 224, 192).

    Example:
        >>> voc_palette()[15].tolist()  # person
        [192, 128, 128]
    """
    palette = np.zeros([256, 3], np.uint8)
    for index in range(256):
        value = index
        for bit in range(8):
            for channel in range(3):
                palette[index, channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
    return palette


def cityscapes_palette() -> np.ndarray:
    """Cityscapes' colours indexed by train id, from the official label table.

    Returns:
        uint8 array [256, 3]; train ids 0-18 in the official colours, the rest
        (255 = ignore) black.
    """
    palette = np.zeros([256, 3], np.uint8)
    colours = cityscapes_labels.train_id_colours()
    palette[: len(colours)] = colours
    return palette


def colorize(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """A label map [H, W] of class ids drawn as RGB uint8 [H, W, 3].

    Example:
        >>> colorize(np.array([[0, 15]]), voc_palette())[0, 1].tolist()
        [192, 128, 128]
    """
    return palette[np.clip(label, 0, 255).astype(np.uint8)]
