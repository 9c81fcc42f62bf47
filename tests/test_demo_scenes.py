"""The demo's scenes: every class drawn, distinct looks, VOC's void band, seeded."""

import numpy as np
import pytest

from tfdeeplab.demo_scenes import (
    NUM_CLASSES,
    class_appearance,
    demo_backgrounds,
    demo_scene,
)


@pytest.fixture(scope="module")
def photos():
    return demo_backgrounds()


def test_every_class_has_its_own_look():
    looks = [class_appearance(c) for c in range(1, NUM_CLASSES + 1)]
    colours = np.array([look["colour"] for look in looks])
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    assert distances[~np.eye(NUM_CLASSES, dtype=bool)].min() > 20
    # Two classes share a shape only with different textures or colours.
    keys = {
        (look["shape"], look["texture"], tuple(look["colour"].round()))
        for look in looks
    }
    assert len(keys) == NUM_CLASSES


def test_scenes_are_seeded_and_cover_every_class(photos):
    size = (120, 160)
    first = demo_scene(np.random.default_rng(7), size, 255, photos)
    again = demo_scene(np.random.default_rng(7), size, 255, photos)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    seen, areas, at_border = set(), [], 0
    for seed in range(120):
        label, image = demo_scene(np.random.default_rng(seed), size, None, photos)
        assert label.shape == size and image.shape == (*size, 3)
        assert label.dtype == np.uint8 and image.dtype == np.uint8
        assert set(np.unique(label)) <= set(range(NUM_CLASSES + 1))  # no void
        classes = set(np.unique(label)) - {0}
        seen |= classes
        areas += [int((label == c).sum()) for c in classes]
        edges = np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]])
        at_border += bool(edges.any())
    assert seen == set(range(1, NUM_CLASSES + 1))
    assert min(areas) < 300 and max(areas) > 3000  # small and large objects
    assert at_border > 30  # objects cut by the image border


def test_the_void_band_follows_the_visible_outlines(photos):
    rng_void, rng_plain = np.random.default_rng(3), np.random.default_rng(3)
    voc, image = demo_scene(rng_void, (96, 128), 255, photos)
    sbd, same_image = demo_scene(rng_plain, (96, 128), None, photos)
    assert np.array_equal(image, same_image)  # the label mode changes no pixel
    void = voc == 255
    assert void.any() and np.array_equal(voc[~void], sbd[~void])
    # Every void pixel is an object pixel at a change of label in SBD's map.
    assert (sbd[void] > 0).all()
    padded = np.pad(sbd, 1, mode="edge")
    neighbours = [
        padded[:-2, 1:-1],
        padded[2:, 1:-1],
        padded[1:-1, :-2],
        padded[1:-1, 2:],
    ]
    changes = np.any([n != sbd for n in neighbours], axis=0)
    assert np.array_equal(void, changes & (sbd > 0))
