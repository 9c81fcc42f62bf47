"""Synthetic test and demo data: small datasets in the real VOC, SBD and Cityscapes
layouts.

For the tests, the demo (`python -m tfdeeplab.demo`) and the benchmarks, never for
training a real model: the files are written the way the datasets ship them (VOC
palette PNGs and ImageSets lists, SBD MATLAB structs, Cityscapes labelIds PNGs), with
photo-like JPEG/PNG images (smooth shading, objects in a fixed colour per class,
noise), so the real converters (`tfrecords_tools`) read them as they read the
datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tfdeeplab.catalog import palettes


def voc_id(index: int) -> str:
    """A VOC-style image id: 2007_000000, 2007_000001, ..."""
    return f"{2007 + index // 100000}_{index % 100000:06d}"


def _rng(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, *name.encode()])


def synthetic_label(
    rng: np.random.Generator,
    size: tuple[int, int],
    class_ids: Sequence[int],
    void: int | None,
) -> np.ndarray:
    """Background 0 with a few boxes and ellipses, optionally with a void border."""
    height, width = size
    label = np.zeros((height, width), np.uint8)
    rows, cols = np.mgrid[:height, :width]
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.choice(class_ids))
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        bottom = top + rng.integers(height // 6, height // 2)
        right = left + rng.integers(width // 6, width // 2)
        if rng.random() < 0.5:
            mask = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
        else:
            cy, cx = (top + bottom) / 2, (left + right) / 2
            mask = ((rows - cy) / max(1, bottom - top) * 2) ** 2 + (
                (cols - cx) / max(1, right - left) * 2
            ) ** 2 <= 1
        if void is not None:
            grown = np.zeros_like(mask)
            grown[1:-1, 1:-1] = (
                mask[:-2, 1:-1] | mask[2:, 1:-1] | mask[1:-1, :-2] | mask[1:-1, 2:]
            )
            label[grown & ~mask] = void
        label[mask] = cls
    return label


def synthetic_photo(rng: np.random.Generator, label: np.ndarray) -> np.ndarray:
    """An RGB uint8 image: shaded background, a colour per class, sensor-like noise.

    Objects take 80% of their class's fixed colour and 20% of the background, so a
    model can learn the classes from a few dozen images.
    """
    height, width = label.shape
    rows, cols = np.mgrid[:height, :width]
    base = rng.uniform(40, 200, 3)
    shade = (rows / max(1, height - 1))[..., None] * rng.uniform(-40, 40, 3) + (
        cols / max(1, width - 1)
    )[..., None] * rng.uniform(-40, 40, 3)
    colours = np.random.default_rng(2012).uniform(0, 255, (256, 3))
    image = base + shade
    objects = (label > 0) & (label < 255)
    image[objects] = 0.2 * image[objects] + 0.8 * colours[label[objects]]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


# A scene: (rng, (height, width), void label or None) -> (label uint8, image uint8).
Scene = Callable[[np.random.Generator, tuple[int, int], "int | None"], tuple]


def simple_scene(
    rng: np.random.Generator, size: tuple[int, int], void: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The default scene: `synthetic_label` boxes and ellipses, `synthetic_photo`."""
    label = synthetic_label(rng, size, range(1, 21), void=void)
    return label, synthetic_photo(rng, label)


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=90)


def write_voc_tree(
    root: Path,
    train_ids: Iterable[str],
    val_ids: Iterable[str],
    size: tuple[int, int] = (375, 500),
    seed: int = 0,
    extra_image_ids: Iterable[str] = (),
    scene: Scene = simple_scene,
) -> Path:
    """Write `root/VOCdevkit/VOC2012` with JPEGImages, SegmentationClass and lists.

    Args:
        root: Path. Parent directory.
        train_ids: iterable of str. Ids in ImageSets/Segmentation/train.txt.
        val_ids: iterable of str. Ids in val.txt (trainval.txt is both).
        size: (height, width). Image size. Defaults to VOC's typical (375, 500).
        seed: int. Content seed.
        extra_image_ids: iterable of str. Unlabelled JPEGs to add (as VOC2012 holds
            the SBD images too).
        scene: callable (rng, size, void) -> (label, image). What to draw.

    Returns:
        The VOC2012 directory.
    """
    voc = root / "VOCdevkit" / "VOC2012"
    train_ids, val_ids = list(train_ids), list(val_ids)
    palette = palettes.voc_palette().ravel().tolist()
    for image_id in train_ids + val_ids:
        label, image = scene(_rng(image_id, seed), size, 255)
        _write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", image)
        png = Image.fromarray(label)
        png.putpalette(palette)  # an L image with a palette becomes P, indices intact
        (voc / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        png.save(voc / "SegmentationClass" / f"{image_id}.png")
    for image_id in extra_image_ids:
        _write_jpeg(
            voc / "JPEGImages" / f"{image_id}.jpg",
            scene(_rng(image_id, seed), size, 255)[1],
        )
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "train.txt").write_text("".join(f"{i}\n" for i in train_ids))
    (lists / "val.txt").write_text("".join(f"{i}\n" for i in val_ids))
    (lists / "trainval.txt").write_text(
        "".join(f"{i}\n" for i in sorted(train_ids + val_ids))
    )
    return voc


def _empty_cells(count: int) -> np.ndarray:
    cells = np.empty((count, 1), dtype=object)
    for index in range(count):
        cells[index, 0] = np.zeros((0, 0), np.uint8)
    return cells


def write_sbd_tree(
    root: Path,
    train_ids: Iterable[str],
    val_ids: Iterable[str],
    size: tuple[int, int] = (375, 500),
    seed: int = 1,
    scene: Scene = simple_scene,
) -> Path:
    """Write `root/benchmark_RELEASE/dataset` with img/, cls/*.mat and the lists.

    The .mat files hold the struct SBD ships: `GTcls` with `Segmentation` (uint8 class
    ids, no void border), `Boundaries` and `CategoriesPresent`.

    `scene` draws each image as in `write_voc_tree`.

    Returns:
        The dataset directory.
    """
    from scipy.io import savemat

    dataset = root / "benchmark_RELEASE" / "dataset"
    train_ids, val_ids = list(train_ids), list(val_ids)
    (dataset / "cls").mkdir(parents=True, exist_ok=True)
    for image_id in train_ids + val_ids:
        label, image = scene(_rng(image_id, seed), size, None)
        _write_jpeg(dataset / "img" / f"{image_id}.jpg", image)
        present = np.unique(label[label > 0]).astype(np.uint8)
        savemat(
            dataset / "cls" / f"{image_id}.mat",
            {
                "GTcls": {
                    "Segmentation": label,
                    "Boundaries": _empty_cells(20),
                    "CategoriesPresent": present,
                }
            },
            do_compression=True,
        )
    (dataset / "train.txt").write_text("".join(f"{i}\n" for i in train_ids))
    (dataset / "val.txt").write_text("".join(f"{i}\n" for i in val_ids))
    return dataset


# Cityscapes label ids that occur in practice (incl. ignored ones such as 0-6).
CITYSCAPES_IDS = (
    0,
    1,
    3,
    4,
    7,
    8,
    11,
    12,
    13,
    17,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    26,
    27,
    28,
    31,
    32,
    33,
)


def write_cityscapes_tree(
    root: Path,
    images_per_split: dict[str, int],
    size: tuple[int, int] = (1024, 2048),
    seed: int = 2,
    cities: Sequence[str] = ("aachen", "bochum"),
) -> Path:
    """Write a Cityscapes root: leftImg8bit/, gtFine/ (or gtCoarse/ for train_extra).

    Args:
        root: Path. Directory to create the layout in.
        images_per_split: dict. E.g. {"train": 4, "val": 2, "train_extra": 2}.
        size: (height, width). Defaults to Cityscapes' (1024, 2048).
        seed: int. Content seed.
        cities: sequence of str. Images are spread over these city folders.

    Returns:
        `root`.
    """
    for split, count in images_per_split.items():
        annotation = "gtCoarse" if split == "train_extra" else "gtFine"
        for index in range(count):
            city = cities[index % len(cities)]
            image_id = f"{city}_{index:06d}_{19 + index:06d}"
            rng = _rng(f"{split}/{image_id}", seed)
            label = synthetic_label(rng, size, CITYSCAPES_IDS[4:], void=None)
            label[label == 0] = rng.choice(CITYSCAPES_IDS[:4])
            image_path = (
                root / "leftImg8bit" / split / city / f"{image_id}_leftImg8bit.png"
            )
            image_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(synthetic_photo(rng, label)).save(image_path)
            label_dir = root / annotation / split / city
            label_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(label).save(
                label_dir / f"{image_id}_{annotation}_labelIds.png"
            )
            # Real trees hold colour and instance PNGs beside the label ids.
            Image.fromarray(np.stack([label] * 3, -1)).save(
                label_dir / f"{image_id}_{annotation}_color.png"
            )
    return root


FOLDER_COLOURS = ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128))


def write_folder_tree(
    root: Path,
    stems: Iterable[str],
    *,
    mask_format: str = "ids",
    num_classes: int = 5,
    size: tuple[int, int] = (48, 64),
    mask_suffix: str = "",
    colours: Sequence[tuple[int, int, int]] = FOLDER_COLOURS,
    seed: int = 0,
) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A "your own data" layout of demo scenes (textured objects on photos):
    `root/images/<stem>.jpg` and `root/masks/<stem><mask_suffix>.png`, a stem with
    `/` making subfolders.

    Args:
        root: Path. Created if missing.
        stems: the images' stems (`a/0001` goes to `images/a/0001.jpg`).
        mask_format: str. `ids` (8-bit L), `ids16` (16-bit I;16), `palette` (VOC
            colour map) or `rgb` (class colours from `colours`).
        num_classes: int. Ids 0..num_classes-1, background 0.
        size: (height, width).
        mask_suffix: str. Appended to each mask's stem (CamVid's `_L`).
        colours: the class colours of `rgb` masks.
        seed: int.

    Returns:
        (images folder, masks folder, {stem: label uint8 [H, W]}).
    """
    from tfdeeplab.demo_scenes import demo_backgrounds, demo_scene

    images, masks, labels = root / "images", root / "masks", {}
    photos = demo_backgrounds()
    for stem in stems:
        rng = _rng(stem, seed)
        label, image = demo_scene(rng, size, None, photos, range(1, num_classes))
        labels[stem] = label
        _write_jpeg(images / f"{stem}.jpg", image)
        path = masks / f"{stem}{mask_suffix}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if mask_format == "ids":
            Image.fromarray(label, mode="L").save(path)
        elif mask_format == "ids16":
            Image.fromarray(label.astype(np.uint16)).save(path)
        elif mask_format == "palette":
            image = Image.fromarray(label, mode="P")
            image.putpalette(palettes.voc_palette().ravel().tolist())
            image.save(path)
        elif mask_format == "rgb":
            Image.fromarray(np.asarray(colours, np.uint8)[label]).save(path)
        else:
            raise ValueError(f"unknown mask format {mask_format!r}")
    return images, masks, labels
