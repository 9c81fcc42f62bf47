"""The comparison's figures, drawn with matplotlib's file-only Agg backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tfdeeplab.atomic_files import write_atomically
from tfdeeplab.comparison.schedule_table import ScheduleTable


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot

    return pyplot


def _save(figure, path: Path) -> Path:
    """Write `figure` as a PNG, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(
        path,
        lambda temporary: figure.savefig(
            temporary, format="png", dpi=110, bbox_inches="tight"
        ),
    )


def plot_learning_rates(tables: Sequence[ScheduleTable], path: Path) -> Path:
    """Each schedule's learning rate against iterations at its real length.

    Piecewise schedules are drawn as exact steps (log rate axis), poly as a
    curve, and each run's end is marked.

    Args:
        tables: ScheduleTables, one per recipe.
        path: Path of the PNG.

    Example:
        >>> plot_learning_rates([schedule_table(recipe, "voc")], Path("lr.png"))
    """
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(figsize=(8, 4.2))
    for table in tables:
        if table.kind == "poly":
            count = 200
            steps = [round(table.total_steps * i / count) for i in range(count + 1)]
            rates = [table.learning_rate(step) for step in steps]
            label = f"{table.name} (poly {table.base_learning_rate:g})"
        else:
            steps, rates = [], []
            for segment in table.segments:
                steps += [segment.start_iteration, segment.stop_iteration]
                rates += [segment.learning_rate] * 2
            label = table.name + (f" ({table.family})" if table.family else "")
        (line,) = axes.plot(steps, rates, label=label, linewidth=2)
        axes.axvline(table.total_steps, color=line.get_color(), linestyle=":")
    if all(table.kind == "piecewise" for table in tables):
        axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("learning rate")
    axes.set_title("Learning rate at each recipe's real length (dotted: end)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right")
    try:
        return _save(figure, path)
    finally:
        pyplot.close(figure)


def plot_training_curves(runs: dict[str, dict], path: Path) -> Path:
    """Learning rate, training loss and validation mIoU against iterations.

    Args:
        runs: {name: {"learning_rate": [(step, value), ...], "loss": [...],
            "miou": [...]}}, as logged to TensorBoard.
        path: Path of the PNG.
    """
    pyplot = _pyplot()
    figure, panels = pyplot.subplots(1, 3, figsize=(15, 4.2))
    titles = {
        "learning_rate": ("learning rate", "Learning rate"),
        "loss": ("training loss", "Training loss"),
        "miou": ("mIoU (%)", "Validation mIoU (whole image)"),
    }
    for axes, (key, (ylabel, title)) in zip(panels, titles.items(), strict=True):
        for name, curves in runs.items():
            if not curves.get(key):
                continue
            steps, values = zip(*curves[key], strict=True)
            if key == "miou":
                axes.plot(steps, [100 * v for v in values], marker="o", label=name)
            elif key == "learning_rate":  # constant between the logged steps
                axes.plot(steps, values, label=name, drawstyle="steps-post")
            else:
                axes.plot(steps, values, label=name)
        if key == "learning_rate" and axes.lines:
            axes.set_yscale("log")
        axes.set(xlabel="iteration", ylabel=ylabel, title=title)
        axes.grid(True, alpha=0.3)
        if axes.lines:
            axes.legend()
    try:
        return _save(figure, path)
    finally:
        pyplot.close(figure)
