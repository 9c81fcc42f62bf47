"""Recipe -> the comparison's objects: the one place this package reads a recipe."""

from __future__ import annotations

from tfdeeplab.comparison.schedule_table import ScheduleTable, piecewise_table
from tfdeeplab.config.schema import Recipe
from tfdeeplab.training.schedules import iterations_per_epoch


def schedule_table(recipe: Recipe, name: str, replicas: int = 0) -> ScheduleTable:
    """The schedule `recipe` trains with, at its real length (SPEC §3).

    Args:
        recipe: Recipe.
        name: str. A label for the table (usually the recipe's file stem).
        replicas: int. Replicas of the run; 0 takes `train.replicas`.

    Example:
        >>> table = schedule_table(load_recipe("voc"), "voc")
        >>> table.iterations_per_epoch, table.total_steps
        (4232, 33856)
    """
    from tfdeeplab.training.builder import total_steps

    config = recipe.train
    global_batch = config.batch_size * (replicas or config.replicas)
    images = recipe.data.num_train_images
    per_epoch = iterations_per_epoch(images, global_batch, config.epoch_scale)
    total = total_steps(config, images, global_batch)
    schedule = config.schedule
    if schedule.type == "poly":
        return ScheduleTable(
            name=name,
            kind="poly",
            family=schedule.family,
            global_batch=global_batch,
            iterations_per_epoch=per_epoch,
            total_steps=total,
            base_learning_rate=schedule.base_learning_rate,
            power=schedule.power,
        )
    return piecewise_table(
        name,
        schedule.piecewise_steps,
        family=schedule.family,
        global_batch=global_batch,
        iterations_per_epoch=per_epoch,
        total_steps=total,
    )
