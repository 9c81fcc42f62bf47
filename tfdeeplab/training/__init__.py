"""Training: schedules, loss, optimizer, distributed step, the run and its loop.

The whole job (checks, strategy, lock, build, restore, loop, summary) is
`tfdeeplab.experiment.train`.
"""

from tfdeeplab.training.builder import (
    TrainingState,
    build_optimizer,
    build_schedule,
    build_training_state,
    total_steps,
)
from tfdeeplab.training.schedules import (
    PiecewiseEpochSchedule,
    PolySchedule,
    iterations_per_epoch,
)
from tfdeeplab.training.trainer import LoopOutcome, train_loop

__all__ = [
    "LoopOutcome",
    "PiecewiseEpochSchedule",
    "PolySchedule",
    "TrainingState",
    "build_optimizer",
    "build_schedule",
    "build_training_state",
    "iterations_per_epoch",
    "total_steps",
    "train_loop",
]
