"""EXIF orientation, applied as viewers apply it wherever an image enters: the
converters store the photo as shown and pair it with masks drawn on what was shown,
and predict writes its label map and overlay the way the photo is shown.

The photos are real EXIF-tagged JPEGs made here: stored 80 wide and 60 high, red
on the left half and blue on the right, with Orientation 6 ("turn 90 degrees
clockwise to view"). Turned clockwise, the left column becomes the top row, so the
photo is shown 60 wide and 80 high, red above and blue below.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import labels_in, run_predict
from tfdeeplab import shard_format
from tfdeeplab.image_orientation import displayed, displayed_size, orientation
from tfrecords_tools import coco, folder

STORED_W, STORED_H = 80, 60
SHOWN_W, SHOWN_H = STORED_H, STORED_W


def phone_photo(path, turn: int = 6):
    pixels = np.zeros((STORED_H, STORED_W, 3), np.uint8)
    pixels[:, : STORED_W // 2] = (220, 20, 20)
    pixels[:, STORED_W // 2 :] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = turn
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def red_above_blue(rgb: np.ndarray) -> bool:
    top, bottom = rgb[: SHOWN_H // 2 - 4], rgb[SHOWN_H // 2 + 4 :]
    return bool(
        (top[..., 0] > 150).all()
        and (top[..., 2] < 100).all()
        and (bottom[..., 2] > 150).all()
        and (bottom[..., 0] < 100).all()
    )


def test_the_orientation_is_read_and_applied(tmp_path):
    with Image.open(phone_photo(tmp_path / "p.jpg")) as image:
        assert (image.width, image.height) == (STORED_W, STORED_H)
        assert orientation(image) == 6
        assert displayed_size(image) == (SHOWN_H, SHOWN_W)
        assert red_above_blue(np.asarray(displayed(image).convert("RGB")))
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 4)).save(plain)
    with Image.open(plain) as image:
        assert orientation(image) == 1 and displayed(image) is image


def shard_images(out, split) -> dict:
    found = {}
    for path in sorted(out.glob(f"{split}-*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            parsed = shard_format.parse_example(record)
            rgb = tf.io.decode_image(parsed[shard_format.IMAGE_ENCODED], 3).numpy()
            found[parsed[shard_format.IMAGE_FILENAME].decode()] = (parsed, rgb)
    return found


def shown_mask() -> np.ndarray:
    mask = np.zeros((SHOWN_H, SHOWN_W), np.uint8)
    mask[: SHOWN_H // 2] = 1  # the red half, as the annotator saw it
    return mask


def test_the_folder_converter_pairs_masks_drawn_on_the_shown_photo(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    phone_photo(images / "p.jpg")
    Image.fromarray(shown_mask()).save(masks / "p.png")
    out = tmp_path / "out"
    args = ["--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert folder.main([*args, "--split", "train", "--quiet", "--workers", "1"]) == 0
    parsed, rgb = shard_images(out, "train")["p"]
    assert rgb.shape == (SHOWN_H, SHOWN_W, 3) and red_above_blue(rgb)
    heights = parsed[shard_format.IMAGE_HEIGHT], parsed[shard_format.IMAGE_WIDTH]
    assert tuple(int(v) for v in heights) == (SHOWN_H, SHOWN_W)
    np.testing.assert_array_equal(labels_in(out, "train")["p"], shown_mask())

    # A mask drawn on the stored pixels: the message says why the sizes differ.
    stored = np.zeros((STORED_H, STORED_W), np.uint8)
    stored[:, : STORED_W // 2] = 1
    Image.fromarray(stored).save(masks / "p.png")
    assert folder.main([*args, "--split", "val", "--quiet", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert (
        f"label size {STORED_W}x{STORED_H} differs from image size {SHOWN_W}x"
        f"{SHOWN_H} (as shown: the file stores {STORED_W}x{STORED_H} with EXIF "
        "orientation 6)"
    ) in err


def test_coco_sizes_and_polygons_are_of_the_shown_photo(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    phone_photo(images / "p.jpg")
    top = [0, 0, SHOWN_W, 0, SHOWN_W, SHOWN_H // 2, 0, SHOWN_H // 2]  # red half
    record = {
        "images": [
            {"id": 1, "file_name": "p.jpg", "height": SHOWN_H, "width": SHOWN_W}
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [top]}
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    annotations = tmp_path / "instances.json"
    annotations.write_text(json.dumps(record))
    out = tmp_path / "out"
    args = ["--annotations", str(annotations), "--images", str(images)]
    more = ["--out", str(out), "--split", "val", "--quiet", "--workers", "1"]
    assert coco.main([*args, *more]) == 0
    label = labels_in(out, "val")["p"]
    assert label.shape == (SHOWN_H, SHOWN_W)
    assert (label[2 : SHOWN_H // 2 - 2] == 15).all()  # person, VOC's id
    assert (label[SHOWN_H // 2 + 2 :] == 0).all()
    assert red_above_blue(shard_images(out, "val")["p"][1])


@pytest.mark.slow
def test_predict_writes_the_shown_orientation(demo_shards, trained_run, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    phone_photo(photos / "p.jpg")
    out = tmp_path / "out"
    code = run_predict(demo_shards, trained_run, out, photos / "p.jpg")
    assert code == 0
    written = sorted(path for path in out.iterdir() if path.suffix != ".json")
    assert len(written) == 2, written
    pictures = {}
    for path in written:
        with Image.open(path) as image:
            assert (image.width, image.height) == (SHOWN_W, SHOWN_H), path.name
            pictures[image.mode] = (np.asarray(image), image.getpalette())
    labels, palette = pictures["P"]
    overlay = pictures["RGB"][0].astype(int)
    colours = np.asarray(palette, int).reshape(-1, 3)[labels]
    # overlay = (photo + colour) / 2: the photo shows through, upright.
    photo = np.clip(2 * overlay - colours, 0, 255)
    assert red_above_blue(photo)
