"""What a reproduction writes: `reproduction.json` (the figures beside SPEC §1's,
per-class IoU, each step's time, images/s, devices, software, code) and
`reproduction.md` (the same as a page)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from tfdeeplab.catalog.published_results import PublishedResult
from tfdeeplab.version import version_line


def reproduction_record(
    recipe: str,
    published: PublishedResult,
    run: Path,
    steps: dict,
    images_per_second: float | None,
) -> dict:
    """The JSON record of a reproduction whose evaluation is `run/eval.json`.

    Args:
        recipe: str. The recipe reproduced.
        published: PublishedResult. Its row of SPEC §1.
        run: Path. The run directory.
        steps: {stage step: {"seconds": float, "reused": bool}}.
        images_per_second: float or None. Training throughput.
    """
    evaluation = {}
    if (run / "eval.json").is_file():
        evaluation = json.loads((run / "eval.json").read_text())
    miou = evaluation.get("miou")
    return {
        "recipe": recipe,
        "source": published.source,
        "miou": None if miou is None else round(100 * miou, 2),
        "paper_miou": published.paper_miou,
        "seed_miou": published.seed_miou,
        "class_iou": {
            name: None if iou is None else round(100 * iou, 2)
            for name, iou in evaluation.get("class_iou", {}).items()
        },
        "images": evaluation.get("images"),
        "checkpoint": evaluation.get("checkpoint"),
        "steps": steps,
        "images_per_second": images_per_second,
        "devices": _devices(),
        "software": _software(),
        "code": version_line(),
    }


def _devices() -> list[str]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in gpus
    ]
    return names or [f"CPU ({platform.processor() or platform.machine()})"]


def _software() -> dict:
    import numpy
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def _reused(entry: dict) -> str:
    return "reused" if entry["reused"] else ""


def _figure(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def reproduction_markdown(record: dict) -> str:
    """`reproduction.md`: the row beside SPEC §1's, per-class IoU, steps, software."""
    lines = [
        f"# Reproduction of {record['recipe']} ({record['source']})",
        "",
        "| recipe | ours | paper | seed |",
        "|---|---|---|---|",
        f"| `{record['recipe']}` | {_figure(record['miou'])} | "
        f"{_figure(record['paper_miou'])} | {_figure(record['seed_miou'])} |",
        "",
        f"mIoU in percent on {record['images']} validation images, checkpoint "
        f"`{record['checkpoint']}`.",
        "",
        "| class | IoU |",
        "|---|---|",
        *[f"| {name} | {_figure(iou)} |" for name, iou in record["class_iou"].items()],
        "",
        "| step | seconds | |",
        "|---|---|---|",
        *[
            f"| {step} | {entry['seconds']:.1f} | {_reused(entry)} |"
            for step, entry in record["steps"].items()
        ],
        "",
        f"Training: {_figure(record['images_per_second'])} images/s. Devices: "
        f"{', '.join(record['devices'])}. Code: {record['code']}. Software: "
        + ", ".join(f"{key} {value}" for key, value in record["software"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"
