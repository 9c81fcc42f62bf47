"""Training: schedules, loss, optimizer, distributed step, loop (`trainer.train`)."""

from tfdeeplab.training.schedules import (
    PiecewiseEpochSchedule,
    PolySchedule,
    build_schedule,
    iterations_per_epoch,
    total_steps,
)

__all__ = [
    "PiecewiseEpochSchedule",
    "PolySchedule",
    "build_schedule",
    "iterations_per_epoch",
    "total_steps",
]
