"""Training each compared recipe in its own run directory, and reading it back.

Every recipe gets `OUT/runs/<name>`: the ordinary `python -m tfdeeplab.train` run
directory (checkpoints, TensorBoard logs), so `tensorboard --logdir OUT/runs` shows
the runs side by side, and running the comparison again resumes or reuses them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tfdeeplab.config.loader import load_recipe, recipe_to_dict
from tfdeeplab.evaluation.outputs import write_json


def schedule_recipe(recipe_path: Path, base: Path | None, out: Path) -> Path:
    """The recipe to train for `recipe_path`: itself, or `base` with its schedule.

    With `base`, writes `out` (YAML) holding `base: <base>` and `recipe_path`'s
    `train.schedule` and `train.end_epoch`, so every compared schedule family
    trains the same model on the same data; the file stays beside the run as the
    record of what was trained.

    Args:
        recipe_path: Path. A recipe whose schedule is compared.
        base: Path or None. The recipe to take everything else from.
        out: Path. Where to write the combined recipe.

    Returns:
        The recipe file to train.

    Example:
        >>> schedule_recipe(Path("recipes/voc_tf_schedule.yaml"),
        ...                 Path("recipes/demo.yaml"), Path("out/tf.yaml"))
    """
    if base is None:
        return recipe_path
    train = recipe_to_dict(load_recipe(recipe_path))["train"]
    combined = {
        "base": str(base.resolve()),
        "description": f"{base.name} with the schedule of {recipe_path.name}",
        "train": {"schedule": train["schedule"], "end_epoch": train["end_epoch"]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    temporary.write_text(
        f"# Written by python -m tfdeeplab.compare from {recipe_path}.\n"
        + yaml.safe_dump(combined, sort_keys=False)
    )
    temporary.replace(out)
    return out


def read_scalars(tensorboard: Path, tags: tuple[str, ...]) -> dict[str, list]:
    """{tag: [(step, value), ...]} from a run's TensorBoard event files.

    A step written twice (a resumed run repeats the steps after its last
    checkpoint) keeps the later value.

    Example:
        >>> read_scalars(Path("runs/demo/tensorboard"), ("train/loss",))
        {'train/loss': [(25, 2.08), (50, 1.71), ...]}
    """
    import tensorflow as tf

    found: dict[str, dict[int, tuple[float, float]]] = {tag: {} for tag in tags}
    for path in sorted(tensorboard.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag not in found:
                    continue
                number = (
                    float(tf.make_ndarray(value.tensor))
                    if value.HasField("tensor")
                    else float(value.simple_value)
                )
                previous = found[value.tag].get(event.step)
                if previous is None or previous[0] <= event.wall_time:
                    found[value.tag][event.step] = (event.wall_time, number)
    return {
        tag: [(step, entry[1]) for step, entry in sorted(points.items())]
        for tag, points in found.items()
    }


def train_and_evaluate(
    recipe_file: Path, run: Path, overrides: list[str], log=print
) -> dict:
    """Train `recipe_file` in `run` (resuming), evaluate its final checkpoint.

    The training wall time adds up over invocations in `run/compare_run.json`;
    the evaluation (the recipe's protocol, SPEC §4) goes to `run/eval.json` and
    is reused while the checkpoint is the same.

    Returns:
        {"code": exit code, "train_seconds", "checkpoint", "eval": metrics or None}.
    """
    from tfdeeplab import evaluate, train
    from tfdeeplab.run_directory import RunDirectory

    state_file = run / "compare_run.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    command = [str(recipe_file), "--workdir", str(run), "--no-progress"]
    log("python -m tfdeeplab.train " + " ".join(command + ["--set", *overrides]))
    started = time.perf_counter()
    code = train.main(command + ["--set", *overrides])
    state["train_seconds"] = state.get("train_seconds", 0.0) + (
        time.perf_counter() - started
    )
    if run.is_dir():  # a run refused before it started leaves no directory
        write_json(state_file, state)
    result = {"code": code, "train_seconds": state["train_seconds"]}
    checkpoint = RunDirectory(run).latest_checkpoint() if code == 0 else None
    result["checkpoint"], result["eval"] = checkpoint, None
    if checkpoint is None:
        return result
    report = run / "eval.json"
    if state.get("evaluated") != checkpoint or not report.is_file():
        code = evaluate.main(
            [str(recipe_file), "--checkpoint", checkpoint, "--json", str(report)]
            + ["--no-progress", "--set", *overrides]
        )
        if code:
            result["code"] = code
            return result
        state["evaluated"] = checkpoint
        write_json(state_file, state)
    else:
        log(f"evaluation of {Path(checkpoint).name}: reused ({report})")
    result["eval"] = json.loads(report.read_text())
    return result
