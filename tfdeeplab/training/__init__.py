"""Training: schedules, loss, optimizer, distributed step, the run and its loop.

The whole job (checks, strategy, lock, build, restore, loop, summary) is
`tfdeeplab.experiment.train`.

Names are imported on first use (see `tfdeeplab.lazy_imports`).
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "builder": [
            "TrainingState",
            "build_optimizer",
            "build_schedule",
            "build_training_state",
            "total_steps",
        ],
        "schedules": ["PiecewiseEpochSchedule", "PolySchedule", "iterations_per_epoch"],
        "trainer": ["LoopOutcome", "train_loop"],
        # Their earlier place: the job now lives in the experiment layer.
        "tfdeeplab.experiment.train_job": ["RunSummary", "train"],
    },
)
