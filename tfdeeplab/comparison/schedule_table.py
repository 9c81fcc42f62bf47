"""A recipe's learning-rate schedule at its real length, as a table (SPEC §3).

iterations_per_epoch = floor(num_train_images / (batch_size * replicas)) *
epoch_scale. A piecewise schedule [(e_1, lr_1), ...] runs lr_k from iteration
e_{k-1} * iterations_per_epoch up to (not including) e_k * iterations_per_epoch,
as `PiecewiseEpochSchedule` does; the run ends at `end_epoch` (or the last e_k),
or at `max_steps`. A poly schedule falls from its base rate to 0 at the end.
`tfdeeplab.comparison.builder.schedule_table` makes the table of a recipe.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Segment:
    """One constant-rate stretch: iterations [start, stop) at `learning_rate`."""

    start_epoch: float
    stop_epoch: float
    start_iteration: int
    stop_iteration: int
    learning_rate: float


@dataclasses.dataclass(frozen=True)
class ScheduleTable:
    """A recipe's schedule as run: segments (piecewise) or the poly parameters.

    Attributes:
        name: str. The recipe's file stem.
        kind: str. `piecewise` or `poly`.
        family: str. The schedule family named in the recipe, or "".
        iterations_per_epoch: int.
        total_steps: int. Steps of the whole run.
        segments: tuple of Segment. Piecewise only, cut at `total_steps`; the
            last rate runs on to the end when the run is longer than the schedule.
        base_learning_rate, power: float. Poly only.
    """

    name: str
    kind: str
    family: str
    global_batch: int
    iterations_per_epoch: int
    total_steps: int
    segments: tuple[Segment, ...] = ()
    base_learning_rate: float = 0.0
    power: float = 0.0

    def learning_rate(self, step: int) -> float:
        """The rate at `step` by the table (for plots; equals the schedule code)."""
        if self.kind == "poly":
            progress = min(step / self.total_steps, 1.0)
            return self.base_learning_rate * (1.0 - progress) ** self.power
        for segment in self.segments:
            if step < segment.stop_iteration:
                return segment.learning_rate
        return self.segments[-1].learning_rate

    def to_json(self) -> dict:
        """The table as JSON-ready values."""
        return dataclasses.asdict(self)


def piecewise_table(
    name: str,
    steps,
    *,
    family: str,
    global_batch: int,
    iterations_per_epoch: int,
    total_steps: int,
) -> ScheduleTable:
    """The segments `PiecewiseEpochSchedule(steps, iterations_per_epoch)` runs.

    Args:
        name: str. A label (usually the recipe's file stem).
        steps: sequence of (epoch, lr), epochs strictly increasing.
        family: str. The family named in the recipe, or "".
        global_batch: int. Images per step over all replicas (for the table).
        iterations_per_epoch: int. Steps in one scaled epoch.
        total_steps: int. Steps of the whole run.

    Example:
        >>> table = piecewise_table("voc", [(5, 1e-3), (8, 1e-4)], family="",
        ...                         global_batch=10, iterations_per_epoch=4232,
        ...                         total_steps=33856)
        >>> [(s.stop_iteration, s.learning_rate) for s in table.segments]
        [(21160, 0.001), (33856, 0.0001)]
    """
    per_epoch = max(iterations_per_epoch, 1)
    # PiecewiseEpochSchedule moves on at the first step >= epoch * per_epoch.
    segments, start_iteration, start_epoch = [], 0, 0.0
    steps = list(steps)
    for index, (epoch, rate) in enumerate(steps):
        if start_iteration >= total_steps:
            break
        stop_iteration = math.ceil(epoch * iterations_per_epoch)
        if stop_iteration > total_steps or index == len(steps) - 1:
            # Cut at the end, or the last rate runs on to it.
            epoch, stop_iteration = total_steps / per_epoch, total_steps
        segments.append(
            Segment(
                start_epoch=start_epoch,
                stop_epoch=float(epoch),
                start_iteration=start_iteration,
                stop_iteration=stop_iteration,
                learning_rate=float(rate),
            )
        )
        start_iteration, start_epoch = stop_iteration, float(epoch)
    return ScheduleTable(
        name=name,
        kind="piecewise",
        family=family,
        global_batch=global_batch,
        iterations_per_epoch=iterations_per_epoch,
        total_steps=total_steps,
        segments=tuple(segments),
    )


def format_tables(tables: list[ScheduleTable]) -> str:
    """A Markdown table of every segment of every schedule.

    Example:
        >>> print(format_tables([table]))  # doctest: +SKIP
        | recipe | epochs | iterations | lr |
    """
    lines = [
        "| recipe | global batch | iterations/epoch | epochs | iterations | lr |",
        "|---|---|---|---|---|---|",
    ]
    for table in tables:
        head = f"| {table.name} | {table.global_batch} | {table.iterations_per_epoch} "
        if table.kind == "poly":
            lines.append(
                f"{head}| 0 - {table.total_steps / table.iterations_per_epoch:g} "
                f"| 0 - {table.total_steps} | {table.base_learning_rate:g} x "
                f"(1 - it/{table.total_steps})^{table.power:g} |"
            )
            continue
        for segment in table.segments:
            lines.append(
                f"{head}| {segment.start_epoch:g} - {segment.stop_epoch:g} "
                f"| {segment.start_iteration} - {segment.stop_iteration} "
                f"| {segment.learning_rate:g} |"
            )
    return "\n".join(lines)
