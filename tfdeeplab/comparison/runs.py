"""The recipe each compared schedule trains, and the curves read back from a
run's TensorBoard events (the job itself: `tfdeeplab.experiment.compare`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from tfdeeplab.atomic_files import write_text
from tfdeeplab.config.loader import load_recipe, recipe_to_dict


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
        >>> schedule_recipe(find_recipe("voc_tf_schedule"),
        ...                 find_recipe("demo"), Path("out/tf.yaml"))
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
    write_text(
        out,
        f"# Written by python -m tfdeeplab.compare from {recipe_path}.\n"
        + yaml.safe_dump(combined, sort_keys=False),
    )
    return out


def _events(path: Path, log: Callable[[str], None]):
    """The events of one file; a file cut short (a killed writer) gives the
    events before the cut, with a note."""
    import tensorflow as tf

    count = 0
    try:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            count += 1
            yield event
    except tf.errors.DataLossError:
        log(
            f"note: {path}: cut short after {count} events (a writer was killed); "
            "the points after the cut are missing from the curves"
        )


def read_scalars(
    tensorboard: Path, tags: tuple[str, ...], log: Callable[[str], None] = print
) -> dict[str, list]:
    """{tag: [(step, value), ...]} from a run's TensorBoard event files.

    A step written twice (a resumed run repeats the steps after its last
    checkpoint) keeps the later value. A file cut short gives what comes before
    the cut, with a note.

    Example:
        >>> read_scalars(Path("runs/demo/tensorboard"), ("train/loss",))
        {'train/loss': [(25, 2.08), (50, 1.71), ...]}
    """
    import tensorflow as tf

    found: dict[str, dict[int, tuple[float, float]]] = {tag: {} for tag in tags}
    for path in sorted(tensorboard.glob("events.out.tfevents.*")):
        for event in _events(path, log):
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
