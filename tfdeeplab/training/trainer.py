"""The training loop: steps, periodic checkpoints and validations, the final save.

`train_loop` takes a `TrainingRun` that is restored or initialised and a stream of
distributed batches, and trains to the last step: a checkpoint every
`checkpoint_every` steps and at the end, a validation every `validate_every` steps
and at the end, a clean stop on the first SIGINT or SIGTERM (a checkpoint of the
step it arrived in), and a record the reader cannot read reported by its shard with
the last finished step checkpointed first. Preparing the run (checks, strategy,
lock, build, restore) is `tfdeeplab.experiment.train`'s job.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterator

from tfdeeplab.data.records import CorruptShardError
from tfdeeplab.run_directory import checkpoint_name
from tfdeeplab.training.interrupts import StopRequests
from tfdeeplab.training.progress import TrainingProgress
from tfdeeplab.training.run import TrainingDiverged, TrainingRun

__all__ = [
    "LoopOutcome",
    "TrainingDiverged",
    "train_loop",
    "train_steps",
    "validation_line",
]


@dataclasses.dataclass
class LoopOutcome:
    """Where a training loop ended.

    Args:
        end_step: int. The last step trained (and checkpointed).
        stopped_by: str. `SIGINT` or `SIGTERM` when a signal stopped the loop
            before the last step; empty when it ran to its end.
        validation: dict or None. Metrics of the final validation.
    """

    end_step: int
    stopped_by: str
    validation: dict | None


def validation_line(step: int, validation: dict) -> str:
    """The line a validation prints: `step S: validation mIoU M on N images`."""
    return (
        f"step {step}: validation mIoU {100 * validation['miou']:.2f} "
        f"on {validation['images']} images"
    )


def train_steps(
    run: TrainingRun,
    batches: Iterator,
    progress: TrainingProgress,
    *,
    steps: int,
    checkpoint_every: int,
    validate_every: int,
    stop_on_signals: bool = True,
) -> signal.Signals | None:
    """Train from the run's step to `steps`, checkpointing and validating on the way.

    Between steps (not after the last, which the caller saves and validates) a
    checkpoint is written every `checkpoint_every` steps and a validation runs every
    `validate_every` (0: never). A first SIGINT or SIGTERM ends the loop after the
    step it arrived in.

    Returns:
        The signal that stopped the loop early, or None.

    Raises:
        TrainingDiverged: from `TrainingRun.train_step` or `TrainingRun.save`.
    """
    with StopRequests(enabled=stop_on_signals) as stop:
        for current in range(run.step + 1, steps + 1):
            loss = run.train_step(next(batches), current)
            progress.update(current, loss, run.state.learning_rate)
            if stop.requested or current == steps:
                break
            if current % checkpoint_every == 0:
                run.save(current)
            if validate_every and current % validate_every == 0:
                validation = run.validate(current)
                if validation:
                    progress.write(validation_line(current, validation))
    return stop.requested


def train_loop(
    run: TrainingRun,
    batches: Iterator,
    progress: TrainingProgress,
    *,
    steps: int,
    checkpoint_every: int,
    validate_every: int,
    stop_on_signals: bool,
    log: Callable[[str], None],
) -> LoopOutcome:
    """Train `run` to step `steps`, save its end and validate it (see the module).

    Args:
        run: TrainingRun, restored or initialised.
        batches: iterator of distributed batches (`data.records.naming_bad_shards`
            around the strategy's dataset iterator).
        progress: TrainingProgress. Closed here.
        steps: int. The last step of the run.
        checkpoint_every: int. Steps between checkpoints.
        validate_every: int. Steps between validations; 0 for the end only.
        stop_on_signals: bool. A first SIGINT/SIGTERM stops after its step (False
            under MultiWorkerMirroredStrategy, where workers must save together).
        log: function taking one line of text.

    Returns:
        LoopOutcome.

    Raises:
        TrainingDiverged: a NaN or Inf loss or weights; nothing saved for it.
        CorruptShardError: a record the reader cannot read, after the last finished
            step was checkpointed; names the shard and the newest checkpoint.
    """
    start = run.step
    try:
        stop_signal = train_steps(
            run,
            batches,
            progress,
            steps=steps,
            checkpoint_every=checkpoint_every,
            validate_every=validate_every,
            stop_on_signals=stop_on_signals,
        )
        progress.close()
        end = run.step
        if end > start:
            run.save(end)
        # A signal during the last step changes nothing: the run is complete.
        stopped_by = stop_signal.name if stop_signal and end < steps else ""
        if stopped_by:
            log(
                f"{stopped_by} received: stopped after step {end} with a checkpoint; "
                "run the same command to continue"
            )
        validation = run.validate(end) if end > start and not stopped_by else None
        if validation:
            log(validation_line(end, validation))
    except CorruptShardError as error:  # keep what was trained before the bad record
        newest = run.checkpoints.directory / checkpoint_name(run.step)
        if run.step > start and run.checkpoints.latest != str(newest):
            run.save(run.step)
        raise CorruptShardError(
            f"{error}; stopped after step {run.step}, the newest checkpoint is "
            f"{run.latest_checkpoint}"
        ) from None
    finally:
        progress.close()
        run.close()
    return LoopOutcome(end, stopped_by, validation)
