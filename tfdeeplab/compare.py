"""`python -m tfdeeplab.compare RECIPE RECIPE... --out DIR [--train [--base RECIPE]]
[--set k=v ...]`

Compares the learning-rate schedules of recipes (SPEC §3): plots each one's rate
against iterations at its real length (iterations per epoch from the recipe's image
count, batch and replicas) into DIR/learning_rate.png and writes the boundaries
(epochs, iterations, rate) to DIR/schedules.md and .json. With --train, trains each
recipe in DIR/runs/<name> on the same data and seed (--base takes the model, data
and everything but the schedule from one recipe, e.g. recipes/demo.yaml), evaluates
each final checkpoint by the recipe's protocol, and writes loss, mIoU and rate
curves (DIR/curves.png) and a summary (DIR/summary.md and .json). Running it again
resumes or reuses each run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfdeeplab.atomic_files import write_json, write_text
from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    non_negative_int,
    path_argument,
    positive_int,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe
from tfdeeplab.errors import TfdeeplabError


class CompareError(TfdeeplabError, ValueError):
    """Arguments of a comparison that do not go together."""


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.compare", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument(
        "recipes",
        nargs="+",
        type=path_argument,
        metavar="RECIPE",
        help="recipe YAML files to compare",
    )
    parser.add_argument(
        "--out",
        type=path_argument,
        required=True,
        metavar="DIR",
        help="output directory",
    )
    parser.add_argument(
        "--train", action="store_true", help="train and evaluate each recipe"
    )
    parser.add_argument(
        "--base",
        type=path_argument,
        metavar="RECIPE",
        help="with --train: train this recipe with each compared recipe's "
        "train.schedule and train.end_epoch (same model, data and seed)",
    )
    parser.add_argument(
        "--replicas",
        type=non_negative_int,
        default=0,
        help="replicas for the real-length schedules (default: train.replicas)",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=8,
        help="with --train: validations per run for the mIoU curve, unless "
        "--set train.validate_every=N (default 8)",
    )
    add_override_argument(parser, "data.root=runs/demo/data/shards")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _compare(args))


def _compare(args) -> int:
    names = [path.stem for path in args.recipes]
    if len(set(names)) != len(names):
        raise CompareError(f"recipe names repeat: {', '.join(names)}")
    if args.base and not args.train:
        raise CompareError("--base needs --train")
    recipes = [
        load_recipe(path, [] if args.base else args.overrides) for path in args.recipes
    ]
    if args.base:
        load_recipe(args.base, args.overrides)  # its errors before any work
    start_tensorflow()
    from tfdeeplab.comparison.builder import schedule_table
    from tfdeeplab.comparison.plots import plot_learning_rates
    from tfdeeplab.comparison.schedule_table import format_tables

    tables = [
        schedule_table(recipe, name, args.replicas)
        for recipe, name in zip(recipes, names, strict=True)
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    table_text = format_tables(tables)
    write_text(args.out / "schedules.md", _schedules_markdown(args.recipes, table_text))
    write_json(args.out / "schedules.json", [table.to_json() for table in tables])
    plot = plot_learning_rates(tables, args.out / "learning_rate.png")
    print(table_text)
    print(f"learning-rate plot: {plot}")
    if not args.train:
        return 0
    return _train_all(args, names)


def _schedules_markdown(paths: list[Path], table: str) -> str:
    return (
        "# Learning-rate schedules at their real length\n\n"
        f"Recipes: {', '.join(str(path) for path in paths)}. A rate runs from the "
        "first iteration of its row up to, not including, the last.\n\n"
        f"![learning rate](learning_rate.png)\n\n{table}\n"
    )


def _train_all(args, names: list[str]) -> int:
    from tfdeeplab.comparison.plots import plot_training_curves
    from tfdeeplab.comparison.runs import schedule_recipe

    recipe_files = [
        schedule_recipe(path, args.base, args.out / "recipes" / f"{name}.yaml")
        for path, name in zip(args.recipes, names, strict=True)
    ]
    trained = [load_recipe(path, args.overrides) for path in recipe_files]
    for line in _differences(trained, names):
        print(line)
    results = {}
    for path, name, recipe_file, recipe in zip(
        args.recipes, names, recipe_files, trained, strict=True
    ):
        results[name] = _train_one(args, name, path, recipe_file, recipe)
    curves_png = plot_training_curves(
        {name: result["curves"] for name, result in results.items()},
        args.out / "curves.png",
    )
    summary = _summary_rows(results)
    write_json(args.out / "summary.json", results)
    write_text(args.out / "summary.md", _summary_markdown(args, summary))
    print("\n" + summary)
    print(f"curves: {curves_png}\nsummary: {args.out / 'summary.md'}")
    print(f"side by side: tensorboard --logdir {args.out / 'runs'}")
    return 0


def _train_one(args, name: str, path: Path, recipe_file: Path, recipe) -> dict:
    """Train and evaluate one compared recipe; its row of the summary."""
    from tfdeeplab.comparison.builder import schedule_table
    from tfdeeplab.comparison.runs import read_scalars, train_and_evaluate

    table = schedule_table(recipe, name)
    overrides = list(args.overrides)
    if not any(item.startswith("train.validate_every=") for item in overrides):
        every = max(1, table.total_steps // args.points)
        overrides.append(f"train.validate_every={every}")
    recipe = load_recipe(recipe_file, overrides)
    run = args.out / "runs" / name
    print(f"\n== {name}: {table.total_steps} steps in {run}")
    outcome = train_and_evaluate(recipe, run)
    curves = read_scalars(
        run / "tensorboard", ("train/loss", "validation/miou", "train/learning_rate")
    )
    return {
        "recipe": str(path),
        "trained_recipe": str(recipe_file),
        "seed": recipe.train.seed,
        "schedule": table.to_json(),
        "run": str(run),
        "checkpoint": outcome.checkpoint,
        "train_seconds": round(outcome.train_seconds, 1),
        "final_miou": outcome.evaluation["miou"],
        "final_pixel_accuracy": outcome.evaluation["pixel_accuracy"],
        "curves": {
            "loss": curves["train/loss"],
            "miou": curves["validation/miou"],
            "learning_rate": curves["train/learning_rate"],
        },
    }


def _differences(recipes: list, names: list[str]) -> list[str]:
    """Notes on what differs between the runs besides the schedule."""
    from tfdeeplab.config.loader import recipe_to_dict

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
                "only in its schedule (--base trains one recipe with each schedule)"
            )
    return notes


def _summary_rows(results: dict) -> str:
    lines = [
        "| recipe | schedule (epoch, lr) | steps | final loss | final mIoU "
        "| best validation mIoU (step) | training wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        table = result["schedule"]
        if table["kind"] == "poly":
            schedule = f"poly {table['base_learning_rate']:g}^{table['power']:g}"
        else:
            schedule = ", ".join(
                f"({segment['stop_epoch']:g}, {segment['learning_rate']:g})"
                for segment in table["segments"]
            )
        loss = result["curves"]["loss"]
        miou = result["curves"]["miou"]
        best = max(miou, key=lambda point: point[1]) if miou else None
        cells = [
            name,
            schedule,
            str(table["total_steps"]),
            f"{loss[-1][1]:.4f}" if loss else "-",
            f"{100 * result['final_miou']:.2f}",
            f"{100 * best[1]:.2f} ({best[0]})" if best else "-",
            f"{result['train_seconds']:.0f} s",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary_markdown(args, rows: str) -> str:
    base = f" on {args.base}'s model and data" if args.base else ""
    overrides = " ".join(args.overrides) or "none"
    return (
        f"# Schedule comparison{base}\n\n"
        f"Overrides: `{overrides}`. Final mIoU: the final checkpoint by the recipe's "
        "evaluation protocol (SPEC §4); best validation mIoU: the whole-image "
        "validations during training.\n\n"
        f"{rows}\n\n![curves](curves.png)\n\n"
        f"TensorBoard: `tensorboard --logdir {args.out / 'runs'}`\n"
    )


if __name__ == "__main__":
    sys.exit(main())
