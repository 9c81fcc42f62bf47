"""The evaluation report: per-image scores, its three pictures, the page, the folder.

Expected values are worked out from label maps by set counting, independently of
the confusion-matrix code; the pictures are read back from their pixels.
"""

import itertools
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image

from tfdeeplab.atomic_files import OutputError
from tfdeeplab.catalog.palettes import voc_palette
from tfdeeplab.evaluation import report_figures
from tfdeeplab.evaluation.confusion import segmentation_metrics
from tfdeeplab.evaluation.per_image import ImageScores
from tfdeeplab.evaluation.report import FILES, check_report_directory, write_report
from tfdeeplab.evaluation.report_figures import (
    ABSENT,
    BAR,
    IGNORED,
    WRONG,
    class_iou_picture,
    comparison_panels,
    confusion_picture,
    normalised_rows,
)

IGNORE = 255


def image_matrix(label, prediction, classes):
    valid = label != IGNORE
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (label[valid], prediction[valid]), 1)
    return matrix


def brute_force_miou(label, prediction):
    """Mean over the classes in truth or prediction of |T & P| / |T | P|."""
    valid = label != IGNORE
    truth, predicted = label[valid], prediction[valid]
    if truth.size == 0:
        return None
    ious = [
        np.sum((truth == c) & (predicted == c))
        / np.sum((truth == c) | (predicted == c))
        for c in set(truth.tolist()) | set(predicted.tolist())
    ]
    return float(np.mean(ious))


def random_split(count, classes, seed=0, size=(30, 40)):
    """Images whose predictions are right with a growing, shuffled probability."""
    rng = np.random.default_rng(seed)
    quality = rng.permutation(np.linspace(0.0, 1.0, count))
    split = []
    for index in range(count):
        label = rng.integers(0, classes, size)
        label[rng.random(size) < 0.1] = IGNORE
        noise = rng.integers(0, classes, size)
        prediction = np.where(rng.random(size) < quality[index], label, noise)
        prediction[label == IGNORE] = noise[label == IGNORE]
        rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        split.append((f"image_{index:03d}", rgb, label, prediction))
    return split


def scored(split, classes, worst):
    scores = ImageScores(classes, worst=worst)
    for image_id, rgb, label, prediction in split:
        scores.add(
            image_id, image_matrix(label, prediction, classes), rgb, label, prediction
        )
    return scores


@pytest.mark.parametrize("count, worst", [(12, 5), (3, 8), (1, 8)])
def test_the_worst_images_are_the_lowest_brute_force_scores(count, worst):
    split = random_split(count, classes=6)
    # Two images with the very same score: the earlier counts as worse.
    if count > 4:
        split[4] = ("image_tie", *split[2][1:])
    scores = scored(split, 6, worst)
    by_hand = [brute_force_miou(label, prediction) for _, _, label, prediction in split]
    expected = sorted(range(count), key=lambda i: (by_hand[i], i))[:worst]
    kept = scores.worst_images()
    assert [image.image_id for image in kept] == [split[i][0] for i in expected]
    assert [image.miou for image in kept] == pytest.approx(
        [by_hand[i] for i in expected]
    )
    assert [s for s, _ in scores.scores()] == pytest.approx(by_hand)
    assert len(kept) == min(count, worst)


def test_an_image_without_labelled_pixels_has_no_score_and_is_never_worst():
    split = random_split(4, classes=3)
    blank = np.full((30, 40), IGNORE)
    split.insert(1, ("blank", split[0][1], blank, split[0][3]))
    scores = scored(split, 3, worst=8)
    assert "blank" not in [image.image_id for image in scores.worst_images()]
    record = scores.records(["a", "b", "c"])[1]
    assert record == {
        "id": "blank",
        "miou": None,
        "pixel_accuracy": None,
        "labelled_pixels": 0,
        "class_iou": {},
    }


def test_per_image_records_and_class_image_counts():
    label = np.array([[0, 0, 1], [1, 255, 2]])
    prediction = np.array([[0, 1, 1], [1, 0, 0]])
    scores = ImageScores(4, worst=1)
    scores.add(
        "a",
        image_matrix(label, prediction, 4),
        np.zeros((2, 3, 3), np.uint8),
        label,
        prediction,
    )
    scores.add(
        "b",
        image_matrix(label * 0, prediction * 0, 4),
        np.zeros((2, 3, 3), np.uint8),
        label * 0,
        prediction * 0,
    )
    record = scores.records(["w", "x", "y", "z"])[0]
    # class 0: T={00,01}, P={00,12}: 1/3; class 1: T={02,10}, P={01,02,10}: 2/3;
    # class 2: T={12}, P={}: 0; class 3 in neither.
    assert record["class_iou"] == pytest.approx({"w": 1 / 3, "x": 2 / 3, "y": 0.0})
    assert record["miou"] == pytest.approx(1 / 3)
    assert record["pixel_accuracy"] == pytest.approx(3 / 5)
    assert record["labelled_pixels"] == 5
    assert scores.class_images().tolist() == [2, 1, 1, 0]


def test_kept_images_are_shrunk_with_their_labels_sampled_not_blended():
    label = np.zeros((1000, 2000), np.int64)
    label[:, 1000:] = 7
    scores = ImageScores(8, worst=1, max_side=500)
    rgb = np.zeros((1000, 2000, 3), np.uint8)
    scores.add("big", image_matrix(label, label * 0, 8), rgb, label, label * 0)
    (kept,) = scores.worst_images()
    assert kept.label.shape == (250, 500) and kept.rgb.shape == (250, 500, 3)
    assert kept.size == (1000, 2000)
    assert set(np.unique(kept.label)) == {0, 7}
    assert (kept.label[:, :250] == 0).all() and (kept.label[:, 250:] == 7).all()


def colormap_values(pixels):
    """Invert viridis: each RGB pixel's nearest colour-map entry, 0..1."""
    table = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(float)
    distance = ((pixels[..., None, :].astype(float) - table) ** 2).sum(-1)
    return distance.argmin(-1) / 255, distance.min(-1)


def cell_pixels(picture, classes, row, column, where=0.2):
    left, top, right, bottom = picture.regions["matrix"]
    x = left + (column + where) * (right - left) / classes
    y = top + (row + where) * (bottom - top) / classes
    return picture.pixels[int(round(y)), int(round(x))]


def test_the_confusion_picture_draws_the_normalised_matrix_with_an_absent_class():
    rng = np.random.default_rng(3)
    classes = 21
    matrix = rng.integers(0, 40, (classes, classes)) + np.diag(
        rng.integers(0, 900, classes)
    )
    matrix[5] = 0  # class 5 never in the ground truth (it is still predicted)
    names = [f"name_{i}" for i in range(classes)]
    picture = confusion_picture(matrix, names)
    expected = normalised_rows(matrix)
    assert np.isnan(expected[5]).all()
    drawn = np.full((classes, classes), np.nan)
    for row in range(classes):
        for column in range(classes):
            pixel = cell_pixels(picture, classes, row, column)
            if row == 5:
                assert tuple(pixel) == tuple(round(255 * v) for v in ABSENT)
                continue
            value, distance = colormap_values(pixel[None])
            assert distance[0] < 12
            drawn[row, column] = value[0]
    np.testing.assert_allclose(
        drawn[~np.isnan(expected)],
        expected[~np.isnan(expected)],
        atol=0.01,  # viridis is 8-bit, its dark end dense
    )
    assert picture.regions["name_step"] == 1
    assert len(picture.regions["x_names"]) == len(picture.regions["y_names"]) == classes
    # The matrix fills most of the picture, and the picture has a colour scale.
    left, top, right, bottom = picture.regions["matrix"]
    height, width, _ = picture.pixels.shape
    assert (right - left) > 0.7 * width and (bottom - top) > 0.7 * height
    scale = picture.pixels[int(top + 10) : int(bottom - 10), int(right) + 20 :]
    assert len(np.unique(scale.reshape(-1, 3), axis=0)) > 100


def overlapping(boxes, axis):
    """Whether any two boxes overlap along `axis` (0: x, 1: y)."""
    spans = sorted((box[axis], box[axis + 2]) for box in boxes)
    return any(
        first[1] > second[0] + 0.5 for first, second in itertools.pairwise(spans)
    )


@pytest.mark.parametrize("classes", [3, 21, 150])
def test_a_long_title_is_wrapped_inside_the_picture_clear_of_the_colour_bar(classes):
    title = "Confusion matrix, each row normalised: " + "_".join(
        ["a_sweep_of_learning_rates_and_crops"] * 3
    )
    matrix = np.random.default_rng(0).integers(0, 50, (classes, classes))
    picture = confusion_picture(matrix, [f"c{i}" for i in range(classes)], title)
    height, width = picture.pixels.shape[:2]
    left, top, right, bottom = picture.regions["title"]
    assert 0 <= left and right <= width and 0 <= top and bottom <= height
    bar_left, bar_top, bar_right, bar_bottom = picture.regions["colourbar_label"]
    apart = bottom <= bar_top or bar_bottom <= top
    apart = apart or right <= bar_left or bar_right <= left
    assert apart, (picture.regions["title"], picture.regions["colourbar_label"])
    assert bottom <= picture.regions["matrix"][1]  # above the matrix


@pytest.mark.parametrize("classes", [19, 150, 400])
def test_class_names_never_overlap_and_are_thinned_when_cells_are_small(classes):
    matrix = np.eye(classes, dtype=np.int64) * 10 + 1
    names = [f"a_long_class_name_{i}" for i in range(classes)]
    picture = confusion_picture(matrix, names)
    step = picture.regions["name_step"]
    assert len(picture.regions["x_names"]) == len(range(0, classes, step))
    assert not overlapping(picture.regions["x_names"], 0)
    assert not overlapping(picture.regions["y_names"], 1)
    assert step == 1 if classes <= 21 else step > 1
    # Still one square cell per class: the diagonal is bright, off it dark.
    value, _ = colormap_values(
        cell_pixels(picture, classes, classes - 1, classes - 1)[None]
    )
    assert value[0] == pytest.approx(11 / (10 + classes), abs=0.01)


def test_the_class_iou_picture_draws_each_bar_at_its_length_worst_first():
    class_iou = np.array([0.8, 0.1, np.nan, 0.45, 0.6])
    share = np.array([0.5, 0.001, 0.0, 0.2, 0.299])
    names = ["road", "pole", "train", "car", "sky"]
    picture = class_iou_picture(class_iou, np.nanmean(class_iou), share, names)
    assert picture.regions["order"] == [1, 3, 4, 0, 2]
    left, _, right, _ = picture.regions["iou_axes"]
    bar = np.array([int(BAR[i : i + 2], 16) for i in (1, 3, 5)])
    rows = picture.regions["rows"]
    assert [class_id for class_id, _ in rows] == [1, 3, 4, 0, 2]
    assert [y for _, y in rows] == sorted(y for _, y in rows)  # top down
    for class_id, y in rows:
        line = picture.pixels[int(round(y)), int(left) : int(right)]
        drawn = np.flatnonzero(np.all(np.abs(line.astype(int) - bar) < 8, axis=-1))
        length = drawn[-1] + 1 if drawn.size else 0  # the mIoU line crosses some
        expected = np.nan_to_num(class_iou[class_id]) * (right - left)
        assert length == pytest.approx(expected, abs=3), names[class_id]


def test_comparison_panels_colour_truth_and_prediction_and_mark_the_errors():
    label = np.array([[0, 1], [255, 2]])
    prediction = np.array([[0, 2], [1, 2]])
    rgb = np.full((2, 2, 3), 90, np.uint8)
    scores = ImageScores(3, worst=1)
    scores.add("x", image_matrix(label, prediction, 3), rgb, label, prediction)
    (image,) = scores.worst_images()
    palette = voc_palette()
    shown, truth, predicted, errors = comparison_panels(image, palette, IGNORE)
    np.testing.assert_array_equal(shown, rgb)
    assert truth[0, 1].tolist() == palette[1].tolist() and tuple(truth[1, 0]) == IGNORED
    assert predicted[1, 0].tolist() == palette[1].tolist()
    assert errors[0, 0].tolist() == [30, 30, 30] and errors[1, 1].tolist() == [
        30,
        30,
        30,
    ]
    assert tuple(errors[0, 1]) == WRONG and tuple(errors[1, 0]) == IGNORED


def test_the_worst_picture_has_a_row_per_image_with_four_panels():
    split = random_split(5, classes=4, size=(48, 64))
    scores = scored(split, 4, worst=3)
    picture = report_figures.worst_picture(scores.worst_images(), voc_palette(), IGNORE)
    rows = picture.regions["rows"]
    assert [image_id for image_id, _ in rows] == [
        image.image_id for image in scores.worst_images()
    ]
    for _, boxes in rows:
        assert len(boxes) == 4
        assert all(left < right and top < bottom for left, top, right, bottom in boxes)
        # panels left to right, the same size (one aspect ratio)
        assert [box[0] for box in boxes] == sorted(box[0] for box in boxes)
    # The errors panel of the worst image is mostly red.
    left, top, right, bottom = rows[0][1][3]
    panel = picture.pixels[
        int(top) + 2 : int(bottom) - 2, int(left) + 2 : int(right) - 2
    ]
    red = np.all(panel == WRONG, axis=-1).mean()
    assert red > 0.3


def html_references(text):
    class References(HTMLParser):
        found = []

        def handle_starttag(self, tag, attributes):
            for name, value in attributes:
                if name in ("src", "href"):
                    self.found.append(value)

    parser = References()
    parser.found = []
    parser.feed(text)
    return parser.found


def facts(images, classes):
    return {
        "recipe": "voc",
        "split": "val",
        "checkpoint": "runs/x/checkpoints/ckpt-6",
        "step": 6,
        "images": images,
        "seconds": 1.5,
        "settings": {
            "scales": [0.5, 1.0],
            "window": [65, 65],
            "stride_fraction": 2 / 3,
            "flip": True,
            "tile_batch": 4,
            "crf": None,
            "split": "val",
        },
    }


def written(directory, split, classes, worst=8, names=None):
    scores = scored(split, classes, worst)
    matrix = sum(
        scores_matrix
        for scores_matrix in (
            image_matrix(label, prediction, classes)
            for _, _, label, prediction in split
        )
    )
    names = names or [f"class <{i}>" for i in range(classes)]
    return write_report(
        directory,
        metrics=segmentation_metrics(matrix),
        matrix=matrix,
        class_names=names,
        scores=scores,
        palette=voc_palette(),
        ignore_label=IGNORE,
        facts=facts(len(split), classes),
    ), matrix


@pytest.mark.parametrize("count, classes", [(1, 3), (6, 150)])
def test_a_report_folder_holds_pngs_a_page_and_the_json(tmp_path, count, classes):
    report, matrix = written(tmp_path / "report", random_split(count, classes), classes)
    directory = tmp_path / "report"
    assert sorted(p.name for p in directory.iterdir()) == sorted(FILES)
    for stem, picture in report.pictures.items():
        png = Image.open(directory / f"{stem}.png")
        assert png.format == "PNG" and png.size == picture.pixels.shape[1::-1]
        assert len(np.unique(np.asarray(png).reshape(-1, 3), axis=0)) > 20
    page = (directory / "index.html").read_text()
    references = html_references(page)
    assert {"confusion.png", "class_iou.png", "worst.png", "report.json"} <= set(
        references
    )
    assert all((directory / name).is_file() for name in references)
    assert "class &lt;0&gt;" in page and "class <0>" not in page  # names escaped
    record = json.loads((directory / "report.json").read_text())
    assert record["images"] == count == len(record["per_image"])
    assert len(record["classes"]) == classes
    assert sum(entry["pixels"] for entry in record["classes"]) == matrix.sum()
    assert sum(entry["pixel_share"] for entry in record["classes"]) == pytest.approx(1)
    assert [entry["id"] for entry in record["worst"]] == [
        image_id for image_id, _ in report.pictures["worst"].regions["rows"]
    ]


def test_a_class_never_present_is_grey_absent_and_never_divides_by_zero(tmp_path):
    split = random_split(3, classes=3)
    report, _ = written(tmp_path / "report", split, 4)  # class 3 in no image
    record = report.record
    assert record["classes"][3] == {
        "id": 3,
        "name": "class <3>",
        "iou": None,
        "pixel_share": 0.0,
        "pixels": 0,
        "images": 0,
    }
    assert report.pictures["class_iou"].regions["order"][-1] == 3
    picture = report.pictures["confusion"]
    assert tuple(cell_pixels(picture, 4, 3, 0)) == tuple(round(255 * v) for v in ABSENT)


def test_an_earlier_report_is_replaced_and_a_users_folder_refused(tmp_path):
    directory = tmp_path / "report"
    written(directory, random_split(2, 3, seed=1), 3)
    first = (directory / "report.json").read_text()
    written(directory, random_split(3, 3, seed=2), 3)
    assert (directory / "report.json").read_text() != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match=re.escape(f"{folder}: holds files")):
        check_report_directory(folder)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_report_directory(tmp_path / "file")
    assert (folder / "holiday.jpg").read_bytes() == b"x"
    assert (
        check_report_directory(tmp_path / "new" / "deeper")
        == tmp_path / "new" / "deeper"
    )


def test_an_interrupted_report_leaves_the_earlier_one_whole(tmp_path, monkeypatch):
    directory = tmp_path / "report"
    written(directory, random_split(2, 3, seed=1), 3)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    calls = []

    def save_then_fail(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, path, *args, **kwargs)

    original = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        written(directory, random_split(3, 3, seed=2), 3)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
