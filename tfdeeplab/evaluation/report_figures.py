"""The evaluation report's three pictures, drawn with matplotlib (no pyplot, no
display, no global state: each figure has its own Agg canvas).

- `confusion_picture`: the row-normalised confusion matrix (rows ground truth,
  columns prediction; a row of a class absent from the ground truth is grey), class
  names on both axes (thinned to every n-th when the cells are smaller than a line of
  text), a colour scale, each diagonal cell's percentage.
- `class_iou_picture`: every class's IoU as a bar, worst at the top, the mIoU line,
  and each class's share of the labelled pixels beside it (log scale); classes
  absent from the ground truth and the predictions at the bottom, marked.
- `worst_picture`: one row per image, input | ground truth | prediction | errors
  (wrong pixels red over the input in dim grey, ignored pixels grey), in the dataset's
  palette, titled with the image id and its scores.

Each returns a `Picture`: the RGB pixels and where its parts were drawn (pixel boxes
`(left, top, right, bottom)`), so callers and tests can read the drawing back.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Sequence

import numpy as np

from tfdeeplab.catalog.palettes import colorize
from tfdeeplab.evaluation.per_image import WorstImage

DPI = 100
ABSENT = (0.82, 0.82, 0.82)  # a confusion row whose class is not in the ground truth
BAR = "#4c72b0"
SHARE_BAR = "#8c8c8c"
WRONG = (255, 32, 32)
IGNORED = (128, 128, 128)
COLORMAP = "viridis"
NAME_POINTS = 8  # font size of class names
TITLE_POINTS = 12
LONGEST_NAME = 22  # characters shown of a class name


@dataclasses.dataclass(frozen=True)
class Picture:
    """A drawn figure.

    Args:
        pixels: uint8 [H, W, 3].
        regions: dict. Where its parts are, in pixels of `pixels`: boxes
            `(left, top, right, bottom)` and other figure-specific facts.
    """

    pixels: np.ndarray
    regions: dict


def normalised_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (ground truth pixels); NaN rows where it is 0.

    Example:
        >>> normalised_rows(np.array([[3, 1], [0, 0]])).tolist()
        [[0.75, 0.25], [nan, nan]]
    """
    matrix = np.asarray(matrix, np.float64)
    rows = matrix.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, matrix / rows, np.nan)


def name_step(cell_pixels: float, points: float = NAME_POINTS) -> int:
    """Label every n-th class so that names a cell apart do not overlap.

    Example:
        >>> name_step(40.0), name_step(4.0)
        (1, 4)
    """
    line = 1.3 * points * DPI / 72  # a line of text, with its leading
    return max(1, math.ceil(line / cell_pixels))


def short_name(name: str) -> str:
    """A class name cut to LONGEST_NAME characters (ADE20K's run long)."""
    return name if len(name) <= LONGEST_NAME else name[: LONGEST_NAME - 1] + "…"


def confusion_picture(
    matrix: np.ndarray, class_names: Sequence[str], title: str = ""
) -> Picture:
    """Draw the row-normalised confusion matrix.

    Args:
        matrix: int [C, C]. Rows ground truth, columns prediction.
        class_names: C names.
        title: str. Above the matrix.

    Returns:
        Picture; `regions["matrix"]` is the matrix' box, `regions["name_step"]`
        the thinning (1: every class named).

    Example:
        >>> picture = confusion_picture(report.matrix, report.class_names)
        >>> Image.fromarray(picture.pixels).save("confusion.png")
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    values = normalised_rows(matrix)
    classes = len(class_names)
    side = min(2400.0, classes * min(44.0, max(14.0, 880.0 / classes)))
    cell = side / classes
    step = name_step(cell)
    figure = Figure(figsize=((side + 330) / DPI, (side + 300) / DPI), dpi=DPI)
    figure.set_layout_engine("constrained")
    axes = figure.add_subplot()
    colormap = colormaps[COLORMAP].with_extremes(bad=ABSENT)
    image = axes.imshow(
        np.ma.masked_invalid(values),
        cmap=colormap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        aspect="equal",
    )
    ticks = list(range(0, classes, step))
    names = [short_name(class_names[i]) for i in ticks]
    axes.set_xticks(ticks, names, rotation=90, fontsize=NAME_POINTS)
    axes.set_yticks(ticks, names, fontsize=NAME_POINTS)
    axes.set_xlabel("prediction")
    axes.set_ylabel("ground truth")
    heading = _heading(figure, title or "Confusion matrix, each row normalised")
    if cell >= 12:
        _diagonal_values(axes, values, min(9.0, 0.4 * cell * 72 / DPI))
    colourbar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    colourbar.set_label("share of the ground-truth class's pixels")
    pixels, renderer = _render(figure)
    return Picture(
        pixels,
        {
            "matrix": _box(axes.get_window_extent(renderer), pixels),
            "title": _box(heading.get_window_extent(renderer), pixels),
            "colourbar_label": _box(
                colourbar.ax.yaxis.label.get_window_extent(renderer), pixels
            ),
            "name_step": step,
            "x_names": [
                _box(label.get_window_extent(renderer), pixels)
                for label in axes.get_xticklabels()
            ],
            "y_names": [
                _box(label.get_window_extent(renderer), pixels)
                for label in axes.get_yticklabels()
            ],
        },
    )


def class_iou_order(class_iou: np.ndarray) -> list[int]:
    """Class ids worst IoU first; classes without an IoU (NaN) last, by id.

    Example:
        >>> class_iou_order(np.array([0.9, np.nan, 0.2]))
        [2, 0, 1]
    """
    class_iou = np.asarray(class_iou, np.float64)
    scored = [i for i in range(len(class_iou)) if not np.isnan(class_iou[i])]
    absent = [i for i in range(len(class_iou)) if np.isnan(class_iou[i])]
    return sorted(scored, key=lambda i: (class_iou[i], i)) + absent


def class_iou_picture(
    class_iou: np.ndarray,
    miou: float,
    pixel_share: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
) -> Picture:
    """Draw every class's IoU as a sorted bar, with its share of the pixels.

    Args:
        class_iou: float [C], 0..1, NaN for a class in neither truth nor prediction.
        miou: float. Drawn as a vertical line.
        pixel_share: float [C]. Each class's share of the labelled pixels.
        class_names: C names.
        title: str.

    Returns:
        Picture; `regions["iou_axes"]` the IoU panel's box (0 at its left, 100% at
        its right), `regions["rows"]` (class id, y of the row's centre) top down.
    """
    from matplotlib.figure import Figure

    order = class_iou_order(class_iou)
    classes = len(order)
    row = 18.0 if classes > 40 else 24.0
    figure = Figure(
        figsize=(11.0, (classes * row + 150) / DPI), dpi=DPI, layout="constrained"
    )
    iou_axes, share_axes = figure.subplots(
        1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.4]}
    )
    positions = np.arange(classes)
    ious = np.array([class_iou[i] for i in order], np.float64)
    iou_axes.barh(positions, np.nan_to_num(100 * ious), color=BAR, height=0.7)
    for position, value in zip(positions, ious, strict=True):
        text = "absent" if np.isnan(value) else f"{100 * value:.1f}"
        iou_axes.text(
            (0 if np.isnan(value) else 100 * value) + 1,
            position,
            text,
            va="center",
            fontsize=7,
            color="dimgray" if np.isnan(value) else "black",
        )
    iou_axes.axvline(100 * miou, color="crimson", linestyle="--", linewidth=1.5)
    iou_axes.text(
        100 * miou,
        -0.8,
        f"mIoU {100 * miou:.1f}",
        color="crimson",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    iou_axes.set_xlim(0, 100)
    iou_axes.set_ylim(classes - 0.5, -1.6)  # worst at the top, room for the label
    iou_axes.set_yticks(
        positions, [short_name(class_names[i]) for i in order], fontsize=NAME_POINTS
    )
    iou_axes.set_xlabel("IoU (%)")
    iou_axes.set_axisbelow(True)  # bars over the grid
    iou_axes.grid(True, axis="x", alpha=0.3)

    _draw_shares(share_axes, np.array([pixel_share[i] for i in order], np.float64))
    figure.suptitle(title or "IoU of each class, worst first")
    pixels, renderer = _render(figure)
    to_pixel = iou_axes.transData
    height = pixels.shape[0]
    return Picture(
        pixels,
        {
            "iou_axes": _box(iou_axes.get_window_extent(renderer), pixels),
            "rows": [
                (class_id, float(height - to_pixel.transform((0, position))[1]))
                for class_id, position in zip(order, positions, strict=True)
            ],
            "order": order,
        },
    )


def _draw_shares(axes, shares: np.ndarray) -> None:
    """Each row's share of the labelled pixels as a bar on a log scale."""
    positions = np.arange(len(shares))
    present = shares > 0
    floor = max(1e-7, shares[present].min() / 3) if present.any() else 1e-7
    axes.barh(positions[present], 100 * shares[present], color=SHARE_BAR, height=0.7)
    axes.set_xscale("log")
    axes.set_xlim(100 * floor, 100 * 3)
    for position, share in zip(positions, shares, strict=True):
        axes.text(
            100 * max(share, floor) * 1.1,
            position,
            _percent(share),
            va="center",
            fontsize=7,
        )
    axes.set_xlabel("share of labelled pixels (%, log)")
    axes.tick_params(axis="y", left=False)


def _percent(share: float) -> str:
    if share <= 0:
        return "0"
    return f"{100 * share:.2g}" if share < 0.001 else f"{100 * share:.1f}"


def comparison_panels(
    image: WorstImage, palette: np.ndarray, ignore_label: int
) -> list[np.ndarray]:
    """Input | ground truth | prediction | errors, as uint8 RGB arrays.

    Ground truth and prediction in `palette` (ignored pixels grey); errors: the
    input in grey dimmed to a third where the prediction is right, red where it is
    wrong, mid grey where the ground truth is ignored.

    Args:
        image: WorstImage.
        palette: uint8 [256, 3]. The dataset's colours by label value.
        ignore_label: int.

    Example:
        >>> rgb, truth, prediction, errors = comparison_panels(image, palette, 255)
    """
    palette = np.asarray(palette, np.uint8)
    label = np.asarray(image.label, np.int64)
    prediction = np.asarray(image.prediction, np.int64)
    ignored = (label == ignore_label) | (label < 0) | (label >= 256)
    truth = colorize(label, palette)
    truth[ignored] = IGNORED
    predicted = colorize(prediction, palette)
    # Right pixels: the input in dimmed grey, so red means wrong in any photo.
    luminance = np.asarray(image.rgb, np.float32) @ np.array([0.299, 0.587, 0.114])
    errors = np.repeat((luminance / 3).round().astype(np.uint8)[..., None], 3, -1)
    errors[(label != prediction) & ~ignored] = WRONG
    errors[ignored] = IGNORED
    return [np.asarray(image.rgb, np.uint8), truth, predicted, errors]


PANEL_TITLES = ("input", "ground truth", "prediction", "errors (red)")


def worst_picture(
    images: Sequence[WorstImage], palette: np.ndarray, ignore_label: int
) -> Picture:
    """Draw the worst images, one row each: input | truth | prediction | errors.

    Args:
        images: WorstImages, worst first.
        palette: uint8 [256, 3].
        ignore_label: int.

    Returns:
        Picture; `regions["rows"]` is, per image, its id and the four panels' boxes.
    """
    from matplotlib.figure import Figure

    panel = 300.0
    if not images:
        figure = Figure(figsize=(4 * panel / DPI, 1.2), dpi=DPI)
        figure.text(0.5, 0.5, "no image with labelled pixels", ha="center")
        pixels, _ = _render(figure)
        return Picture(pixels, {"rows": []})
    aspect = max(image.rgb.shape[0] / image.rgb.shape[1] for image in images)
    row = min(450.0, max(120.0, panel * aspect))
    figure = Figure(
        figsize=((4 * panel + 60) / DPI, len(images) * (row + 60) / DPI),
        dpi=DPI,
        layout="constrained",
    )
    rows = []
    for rank, (image, subfigure) in enumerate(
        zip(images, np.atleast_1d(figure.subfigures(len(images), 1)), strict=True), 1
    ):
        subfigure.suptitle(
            f"#{rank}  {image.image_id}:  mIoU {100 * image.miou:.1f}%,  "
            f"pixel accuracy {100 * image.pixel_accuracy:.1f}%",
            fontsize=10,
            ha="left",
            x=0.01,
        )
        axes_row = subfigure.subplots(1, 4)
        for axes, title, pixels in zip(
            axes_row,
            PANEL_TITLES,
            comparison_panels(image, palette, ignore_label),
            strict=True,
        ):
            axes.imshow(pixels, interpolation="nearest")
            axes.set_title(title, fontsize=9)
            axes.set_axis_off()
        rows.append((image.image_id, axes_row))
    pixels, renderer = _render(figure)
    return Picture(
        pixels,
        {
            "rows": [
                (
                    image_id,
                    [_box(a.get_window_extent(renderer), pixels) for a in axes_row],
                )
                for image_id, axes_row in rows
            ]
        },
    )


def _heading(figure, title: str):
    """The title above the whole figure, the colour bar included, wrapped to its
    width: a long run name would otherwise run off the left and over the bar's
    label."""
    width = figure.get_figwidth() * DPI
    characters = max(20, int(width / (TITLE_POINTS * DPI / 72 * 0.6)))
    wrapped = textwrap.fill(title, characters, break_long_words=True)
    return figure.suptitle(wrapped, fontsize=TITLE_POINTS)


def _diagonal_values(axes, values: np.ndarray, points: float) -> None:
    """Each diagonal cell's percentage, dark on light cells and light on dark."""
    for i in range(len(values)):
        if not np.isnan(values[i, i]):
            axes.text(
                i,
                i,
                f"{100 * values[i, i]:.0f}",
                ha="center",
                va="center",
                fontsize=points,
                color="black" if values[i, i] > 0.6 else "white",
            )


def _render(figure):
    """Draw `figure` on its own Agg canvas: (uint8 RGB pixels, the renderer)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return pixels, canvas.get_renderer()


def _box(extent, pixels: np.ndarray) -> tuple[float, float, float, float]:
    """A display-space box (origin bottom left) in the picture's pixels (top left)."""
    height = pixels.shape[0]
    return (
        float(extent.x0),
        float(height - extent.y1),
        float(extent.x1),
        float(height - extent.y0),
    )
