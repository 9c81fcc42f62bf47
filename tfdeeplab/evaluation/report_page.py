"""The evaluation report's `index.html`: one page, no server, no network.

It shows the three pictures (files beside it), the settings, the worst images'
scores and the metrics table, and links `report.json`. A few lines of script mark a
picture that did not load with its file name in red, and record where each picture
was laid out (`data-rect`, `data-natural` on each `<img>`) for tools that check the
page in a browser.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PICTURES = (
    (
        "confusion.png",
        "Confusion matrix",
        "Rows: ground truth; columns: prediction; "
        "each row normalised by its class's pixels; grey rows: classes absent from the "
        "ground truth.",
    ),
    (
        "class_iou.png",
        "IoU of each class",
        "Worst first, with the mIoU line; right: "
        "each class's share of the labelled pixels (rare classes are the usual weak "
        "ones).",
    ),
    (
        "worst.png",
        "Worst images",
        "The images with the lowest mIoU over their own "
        "classes: input, ground truth, prediction, errors (red: wrong, grey: ignored).",
    ),
)

_STYLE = """
body { font-family: sans-serif; margin: 24px auto; max-width: 1320px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
p.caption { color: #555; font-size: 13px; }
.missing { color: #c00; font-weight: bold; }
"""

_SCRIPT = """
window.addEventListener('load', () => {
  for (const img of document.images) {
    if (!img.naturalWidth) {
      const note = document.createElement('p');
      note.className = 'missing';
      note.textContent = 'missing picture: ' + img.getAttribute('src');
      img.replaceWith(note);
      continue;
    }
    const r = img.getBoundingClientRect();
    img.dataset.rect = [r.left + scrollX, r.top + scrollY, r.width, r.height]
      .map(Math.round).join(',');
    img.dataset.natural = img.naturalWidth + 'x' + img.naturalHeight;
  }
  document.body.dataset.height = document.documentElement.scrollHeight;
});
"""


def _percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.2f}"


def _rows(rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    return "\n".join(
        "<tr>"
        + "".join(
            f'<td class="number">{html.escape(cell)}</td>'
            if number
            else f"<td>{html.escape(cell)}</td>"
            for cell, number in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )


def _table(head: Sequence[str], rows, numeric: Sequence[bool]) -> str:
    header = "".join(f"<th>{html.escape(cell)}</th>" for cell in head)
    return f"<table><tr>{header}</tr>\n{_rows(rows, numeric)}\n</table>"


def _setting_rows(record: dict) -> list[tuple[str, str]]:
    """(setting, value) rows: what was evaluated, how."""
    settings = record["settings"]
    crf = settings.get("crf")
    window = settings.get("window")
    return [
        ("checkpoint", str(record["checkpoint"])),
        ("step", "–" if record.get("step") is None else str(record["step"])),
        ("recipe", str(record["recipe"])),
        ("split", f"{record['split']} ({record['images']} images)"),
        ("scales", ", ".join(f"{s:g}" for s in settings.get("scales", ()))),
        ("window", "whole image" if window is None else "x".join(map(str, window))),
        (
            "stride",
            f"{settings.get('stride_fraction', float('nan')):.3g} of the window",
        ),
        ("flip", "yes" if settings.get("flip") else "no"),
        ("tile batch", str(settings.get("tile_batch", "–"))),
        (
            "dense CRF",
            "off"
            if not crf
            else ", ".join(f"{key} {value}" for key, value in sorted(crf.items())),
        ),
        ("time", f"{record['seconds']:.1f} s"),
    ]


def report_page(record: dict) -> str:
    """The HTML page of a report, from its `report.json` record.

    Args:
        record: dict. The report's JSON record (`write_report`): `recipe`,
            `split`, `checkpoint`, `settings`, `miou`, `pixel_accuracy`,
            `mean_accuracy`, `classes` and `worst`.

    Returns:
        str. The page; it refers to `confusion.png`, `class_iou.png`, `worst.png`
        and `report.json` beside it and nothing else.

    Example:
        >>> Path("report/index.html").write_text(report_page(record))
    """
    setting_rows = _setting_rows(record)
    class_rows = [
        (
            entry["name"],
            _percent(entry["iou"]),
            f"{100 * entry['pixel_share']:.3g}",
            str(entry["images"]),
        )
        for entry in record["classes"]
    ]
    worst_rows = [
        (
            str(rank),
            entry["id"],
            _percent(entry["miou"]),
            _percent(entry["pixel_accuracy"]),
        )
        for rank, entry in enumerate(record["worst"], 1)
    ]
    pictures = "\n".join(
        f'<h2>{html.escape(title)}</h2>\n<p class="caption">{html.escape(caption)}'
        f'</p>\n<img src="{name}" alt="{html.escape(title)}">'
        for name, title, caption in PICTURES
    )
    title = f"{record['recipe']}: {record['split']}, mIoU {_percent(record['miou'])}%"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>pixel accuracy {_percent(record["pixel_accuracy"])}%, mean accuracy
{_percent(record["mean_accuracy"])}%; per-image scores in
<a href="report.json">report.json</a>.</p>
<h2>Settings</h2>
{_table(("setting", "value"), setting_rows, (False, False))}
{pictures}
{
        _table(
            ("rank", "image", "mIoU %", "pixel accuracy %"),
            worst_rows,
            (True, False, True, True),
        )
    }
<h2>Metrics</h2>
{
        _table(
            ("class", "IoU %", "pixel share %", "images"),
            class_rows,
            (False, True, True, True),
        )
    }
<script>{_SCRIPT}</script>
</body>
</html>
"""
