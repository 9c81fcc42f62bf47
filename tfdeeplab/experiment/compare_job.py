"""Comparing the learning-rate schedules of recipes: `compare(recipes, out, ...) ->
Comparison`.

Each recipe's schedule at its real length (SPEC §3) goes to `OUT/schedules.md`,
`.json` and `learning_rate.png`. With `train=True` each recipe (or `base` with its
schedule) is trained in `OUT/runs/<name>` on the same data and seed, its final
checkpoint evaluated by the recipe's protocol, and the loss, mIoU and rate curves
(`OUT/curves.png`) and a summary (`OUT/summary.md`, `.json`) written. Running it
again resumes or reuses each run: `OUT/runs/<name>/compare_run.json` records the
training time and the checkpoint its evaluation (`eval.json`) is of.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab.atomic_files import write_json, write_text
from tfdeeplab.comparison.builder import schedule_table
from tfdeeplab.comparison.plots import plot_learning_rates, plot_training_curves
from tfdeeplab.comparison.runs import read_scalars, schedule_recipe
from tfdeeplab.comparison.schedule_table import ScheduleTable, format_tables
from tfdeeplab.config import Recipe, find_recipe, load_recipe, recipe_to_dict
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.experiment.evaluate_job import evaluate
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.experiment.train_job import train
from tfdeeplab.run_directory import EVAL_FILE, RunDirectory
from tfdeeplab.state_files import StepRecord, read_state

STATE_FILE = "compare_run.json"
RUNS_DIR = "runs"
CURVE_TAGS = {
    "loss": "train/loss",
    "miou": "validation/miou",
    "learning_rate": "train/learning_rate",
}


class CompareError(TfdeeplabError, ValueError):
    """Arguments of a comparison that do not go together."""


@dataclasses.dataclass
class ComparedRun:
    """One compared recipe, trained and evaluated.

    Args:
        name: str. The recipe's file stem.
        recipe: str. The compared recipe file.
        trained_recipe: str. The recipe trained (itself, or `base` with its
            schedule).
        seed: int.
        schedule: ScheduleTable. At the run's length.
        run: str. Its run directory.
        checkpoint: str. The final checkpoint.
        train_seconds: float. Training wall time over every invocation.
        evaluation: dict. The evaluation's JSON record (`EvaluationReport`).
        curves: {"loss" | "miou" | "learning_rate": [(step, value), ...]}.
    """

    name: str
    recipe: str
    trained_recipe: str
    seed: int
    schedule: ScheduleTable
    run: str
    checkpoint: str
    train_seconds: float
    evaluation: dict
    curves: dict

    def to_json(self) -> dict:
        """The run's entry of `summary.json`."""
        return {
            "recipe": self.recipe,
            "trained_recipe": self.trained_recipe,
            "seed": self.seed,
            "schedule": self.schedule.to_json(),
            "run": self.run,
            "checkpoint": self.checkpoint,
            "train_seconds": round(self.train_seconds, 1),
            "final_miou": self.evaluation["miou"],
            "final_pixel_accuracy": self.evaluation["pixel_accuracy"],
            "curves": self.curves,
        }

    def summary_row(self) -> str:
        """The run's row of `summary.md`."""
        table = self.schedule
        if table.kind == "poly":
            schedule = f"poly {table.base_learning_rate:g}^{table.power:g}"
        else:
            schedule = ", ".join(
                f"({segment.stop_epoch:g}, {segment.learning_rate:g})"
                for segment in table.segments
            )
        loss, miou = self.curves["loss"], self.curves["miou"]
        best = max(miou, key=lambda point: point[1]) if miou else None
        cells = [
            self.name,
            schedule,
            str(table.total_steps),
            f"{loss[-1][1]:.4f}" if loss else "-",
            f"{100 * self.evaluation['miou']:.2f}",
            f"{100 * best[1]:.2f} ({best[0]})" if best else "-",
            f"{self.train_seconds:.0f} s",
        ]
        return "| " + " | ".join(cells) + " |"


@dataclasses.dataclass
class Comparison:
    """What a comparison wrote.

    Args:
        out: Path. The output folder.
        tables: list of ScheduleTable. Each recipe's schedule.
        learning_rate_plot: Path.
        runs: list of ComparedRun (empty without training).
        curves_plot: Path or None.
        summary: Path or None. `summary.md`.
    """

    out: Path
    tables: list[ScheduleTable]
    learning_rate_plot: Path
    runs: list[ComparedRun] = dataclasses.field(default_factory=list)
    curves_plot: Path | None = None
    summary: Path | None = None

    def summary_table(self) -> str:
        """The runs' Markdown table."""
        return "\n".join(
            [
                "| recipe | schedule (epoch, lr) | steps | final loss | final mIoU "
                "| best validation mIoU (step) | training wall time |",
                "|---|---|---|---|---|---|---|",
            ]
            + [run.summary_row() for run in self.runs]
        )

    def format(self) -> str:
        """The closing lines: the summary table and where everything is."""
        if not self.runs:
            return f"learning-rate plot: {self.learning_rate_plot}"
        return (
            f"\n{self.summary_table()}\ncurves: {self.curves_plot}\n"
            f"summary: {self.summary}\n"
            f"side by side: tensorboard --logdir {self.out / RUNS_DIR}"
        )


def compare(
    recipes: Sequence[str | Path],
    out: str | Path,
    *,
    train_runs: bool = False,
    base: str | Path | None = None,
    replicas: int = 0,
    points: int = 8,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> Comparison:
    """Compare the recipes' schedules, and with `train_runs` train each one.

    Args:
        recipes: recipe files or shipped recipes' names (`config.find_recipe`);
            their file stems name them and must differ.
        out: str or Path. The output folder (created).
        train_runs: bool. Train and evaluate each recipe.
        base: str, Path or None. With `train_runs`: train this recipe with each
            compared recipe's `train.schedule` and `train.end_epoch`.
        replicas: int. Replicas for the real-length schedules; 0 takes
            `train.replicas`.
        points: int. Validations per run for the mIoU curve, unless the
            overrides set `train.validate_every`.
        overrides: `key=value` strings for every recipe (for `base` alone when
            given).
        log: function taking one line of text.

    Returns:
        Comparison.

    Raises:
        CompareError: names that repeat, `base` without `train_runs`.
        TfdeeplabError: a recipe's, training's or evaluation's one-line errors,
            the recipes' before any work.

    Example:
        >>> comparison = compare(["voc_tf_schedule",
        ...                       "voc_mxnet_schedule"], "out")
    """
    paths = [find_recipe(path) for path in recipes]
    names = [path.stem for path in paths]
    if len(set(names)) != len(names):
        raise CompareError(f"recipe names repeat: {', '.join(names)}")
    if base is not None and not train_runs:
        raise CompareError("`base` needs `train_runs=True`")
    base = find_recipe(base) if base is not None else None
    loaded = [load_recipe(path, [] if base else list(overrides)) for path in paths]
    if base is not None:
        load_recipe(base, list(overrides))  # its errors before any work
    tables = [
        schedule_table(recipe, name, replicas)
        for recipe, name in zip(loaded, names, strict=True)
    ]
    comparison = _write_schedules(Path(out), paths, tables, log)
    if train_runs:
        log(f"learning-rate plot: {comparison.learning_rate_plot}")
        _train_all(comparison, paths, base, points, list(overrides), log)
    return comparison


def _write_schedules(out: Path, paths, tables, log) -> Comparison:
    """`schedules.md`, `.json` and `learning_rate.png`; the comparison so far."""
    out.mkdir(parents=True, exist_ok=True)
    table_text = format_tables(tables)
    write_text(out / "schedules.md", _schedules_markdown(paths, table_text))
    write_json(out / "schedules.json", [table.to_json() for table in tables])
    plot = plot_learning_rates(tables, out / "learning_rate.png")
    log(table_text)
    return Comparison(out, tables, plot)


def _schedules_markdown(paths: list[Path], table: str) -> str:
    return (
        "# Learning-rate schedules at their real length\n\n"
        f"Recipes: {', '.join(str(path) for path in paths)}. A rate runs from the "
        "first iteration of its row up to, not including, the last.\n\n"
        f"![learning rate](learning_rate.png)\n\n{table}\n"
    )


def _train_all(comparison, paths, base, points: int, overrides: list, log) -> None:
    """Train and evaluate every recipe; the curves and the summary."""
    out = comparison.out
    recipe_files = [
        schedule_recipe(path, base, out / "recipes" / f"{path.stem}.yaml")
        for path in paths
    ]
    trained = [load_recipe(path, overrides) for path in recipe_files]
    for line in differences(trained, [path.stem for path in paths]):
        log(line)
    for path, recipe_file, recipe in zip(paths, recipe_files, trained, strict=True):
        comparison.runs.append(
            _train_one(out, path, recipe_file, recipe, points, overrides, log)
        )
    comparison.curves_plot = plot_training_curves(
        {run.name: run.curves for run in comparison.runs}, out / "curves.png"
    )
    write_json(
        out / "summary.json", {run.name: run.to_json() for run in comparison.runs}
    )
    comparison.summary = out / "summary.md"
    write_text(
        comparison.summary,
        _summary_markdown(out, base, overrides, comparison.summary_table()),
    )


def _train_one(out, path, recipe_file, recipe, points, overrides, log) -> ComparedRun:
    """Train and evaluate one compared recipe."""
    name = path.stem
    table = schedule_table(recipe, name)
    overrides = list(overrides)
    if not any(item.startswith("train.validate_every=") for item in overrides):
        every = max(1, table.total_steps // points)
        overrides.append(f"train.validate_every={every}")
    experiment = Experiment.from_file(recipe_file, overrides)
    run = out / RUNS_DIR / name
    log(f"\n== {name}: {table.total_steps} steps in {run}")
    seconds, checkpoint, evaluation = train_and_evaluate(experiment, run, log)
    curves = read_scalars(
        RunDirectory(run).tensorboard, tuple(CURVE_TAGS.values()), log
    )
    return ComparedRun(
        name=name,
        recipe=str(path),
        trained_recipe=str(recipe_file),
        seed=experiment.recipe.train.seed,
        schedule=table,
        run=str(run),
        checkpoint=checkpoint,
        train_seconds=seconds,
        evaluation=evaluation,
        curves={key: curves[tag] for key, tag in CURVE_TAGS.items()},
    )


def train_and_evaluate(
    experiment: Experiment, run: Path, log: Callable[[str], None] = print
) -> tuple[float, str, dict]:
    """Train in `run` (resuming), evaluate its final checkpoint: (training
    seconds over every invocation, the checkpoint, its evaluation record).

    The evaluation (`run/eval.json`) is reused while the checkpoint is the one
    `run/compare_run.json` records it for.

    Raises:
        TfdeeplabError: training's or evaluation's one-line errors.
    """
    steps = StepRecord(run / STATE_FILE, log)
    started = time.perf_counter()
    summary = train(experiment, run, progress=False, log=log)
    log(summary.format())
    seconds = float(steps.values.get("train_seconds", 0.0))
    seconds += time.perf_counter() - started
    steps.set("train_seconds", seconds)
    checkpoint, report = summary.checkpoint, run / EVAL_FILE
    evaluation = None
    if steps.reused("evaluated", checkpoint, [report]):
        evaluation = read_state(report)
    if not evaluation or "miou" not in evaluation:
        result = evaluate(
            experiment, checkpoint=checkpoint, json_path=report, progress=False, log=log
        )
        log(result.table())
        evaluation = result.to_json()
        steps.mark("evaluated", checkpoint)
    return seconds, checkpoint, evaluation


def differences(recipes: list[Recipe], names: list[str]) -> list[str]:
    """Notes on what differs between the runs besides the schedule.

    Example:
        >>> differences([voc, voc_dcn], ["voc", "voc_dcn"])
        ['note: voc_dcn differs from voc in model, not only in its schedule ...']
    """
    first, *others = [recipe_to_dict(recipe) for recipe in recipes]
    notes = []
    for name, other in zip(names[1:], others, strict=True):
        keys = [
            section for section in ("model", "data") if other[section] != first[section]
        ]
        keys += [
            f"train.{key}"
            for key in ("seed", "batch_size", "replicas", "epoch_scale")
            if other["train"][key] != first["train"][key]
        ]
        if keys:
            notes.append(
                f"note: {name} differs from {names[0]} in {', '.join(keys)}, not "
                "only in its schedule (a base recipe trains one model with each "
                "schedule)"
            )
    return notes


def _summary_markdown(out: Path, base, overrides: list, rows: str) -> str:
    on_base = f" on {base}'s model and data" if base else ""
    given = " ".join(overrides) or "none"
    return (
        f"# Schedule comparison{on_base}\n\n"
        f"Overrides: `{given}`. Final mIoU: the final checkpoint by the recipe's "
        "evaluation protocol (SPEC §4); best validation mIoU: the whole-image "
        "validations during training.\n\n"
        f"{rows}\n\n![curves](curves.png)\n\n"
        f"TensorBoard: `tensorboard --logdir {out / RUNS_DIR}`\n"
    )
