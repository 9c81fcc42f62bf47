"""The training loop of `python -m tfdeeplab.train`: one recipe, one run directory.

A run directory (`tfdeeplab.run_directory`) holds the resolved recipe, checkpoints and
TensorBoard logs. Running the same recipe on the same directory again continues from
the newest checkpoint: weights, optimizer state, step and hence schedule position and
input stream.

`train` reads as the run goes: checks that need no TensorFlow, the strategy, the
training state (`builder.build_training_state`), the run (`run.TrainingRun`:
restore or initialise, step, checkpoint, validate), then the loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import tensorflow as tf

from tfdeeplab.catalog.datasets import dataset_descriptor
from tfdeeplab.config import Recipe, save_recipe
from tfdeeplab.data.builder import eval_dataset, train_dataset
from tfdeeplab.data.records import (
    CorruptShardError,
    MissingShardsError,
    check_shard_sizes,
    check_shards_fit,
    find_corrupt_shard,
    record_counts,
    shard_files,
)
from tfdeeplab.run_directory import RunDirectory
from tfdeeplab.training.builder import TrainingState, build_training_state
from tfdeeplab.training.checkpoints import checkpoint_steps
from tfdeeplab.training.interrupts import StopRequests
from tfdeeplab.training.progress import TrainingProgress
from tfdeeplab.training.resume import recipe_changes
from tfdeeplab.training.run import TrainingDiverged, TrainingRun, weights_fingerprint
from tfdeeplab.training.strategy import build_strategy, is_chief
from tfdeeplab.training.summaries import TensorBoardSummaries
from tfdeeplab.weights.loader import require_weights_file

__all__ = ["RunSummary", "TrainingDiverged", "train", "train_in", "train_steps"]


@dataclasses.dataclass
class RunSummary:
    """What a training run did, for the end-of-run screen and for callers.

    Args:
        recipe: str. Recipe name.
        workdir: str. Run directory.
        replicas: int. Replicas trained on.
        global_batch: int. Images per step over all replicas.
        start_step: int. Step the run started (or resumed) at.
        end_step: int. Step it ended at.
        total_steps: int. Steps of the whole schedule.
        final_loss: float. Mean loss of the last logged steps (NaN if no step ran).
        images_per_second: float. Training throughput after the first step.
        seconds: float. Wall time of the loop.
        checkpoint: str. Newest checkpoint.
        validation: dict or None. Metrics of the final validation.
        weights_fingerprint: str. Hash of every weight; equal on all workers.
        stopped_by: str. The signal that stopped the run early (`SIGINT`,
            `SIGTERM`), or empty when it ran to its end.
    """

    recipe: str
    workdir: str
    replicas: int
    global_batch: int
    start_step: int
    end_step: int
    total_steps: int
    final_loss: float
    images_per_second: float
    seconds: float
    checkpoint: str
    validation: dict | None
    weights_fingerprint: str
    stopped_by: str = ""

    def format(self) -> str:
        """The one-screen summary printed at the end of a run."""
        if self.start_step == self.end_step >= self.total_steps:  # nothing to train
            return "\n".join([
                f"recipe            {self.recipe}",
                f"work directory    {self.workdir}",
                f"steps             the run was already complete at step "
                f"{self.end_step} of {self.total_steps}; raise train.max_steps "
                "to train on",
                f"checkpoint        {self.checkpoint}",
                f"weights           {self.weights_fingerprint}",
            ])  # fmt: skip
        lines = [
            f"recipe            {self.recipe}",
            f"work directory    {self.workdir}",
            f"replicas          {self.replicas} (global batch {self.global_batch})",
            f"steps             {self.start_step} -> {self.end_step} "
            f"of {self.total_steps}"
            + (f" (stopped by {self.stopped_by})" if self.stopped_by else ""),
            f"final loss        {self.final_loss:.4f}",
            f"images/s          {self.images_per_second:.2f}",
            f"wall time         {self.seconds:.1f} s",
            f"checkpoint        {self.checkpoint}",
            f"weights           {self.weights_fingerprint}",
        ]
        if self.validation:
            lines.append(
                f"validation        mIoU {100 * self.validation['miou']:.2f}  "
                f"pixel acc {100 * self.validation['pixel_accuracy']:.2f}  "
                f"({self.validation['images']} images, whole-image, single scale)"
            )
        return "\n".join(lines)


def run_notes(recipe: Recipe, replicas: int, images_found: int) -> list[str]:
    """Lines telling where this run differs from what the recipe was designed for."""
    notes = []
    if replicas != recipe.train.replicas:
        notes.append(
            f"note: the recipe was designed for {recipe.train.replicas} replica(s), "
            f"this run has {replicas}: global batch "
            f"{recipe.train.batch_size * replicas}, steps per epoch follow it"
        )
    if recipe.model.batch_norm == "train" and replicas > 1:
        notes.append(
            "note: batch_norm is train: every replica keeps its own moving "
            "statistics and the first replica's are saved; batch_norm: sync "
            "computes them over the global batch"
        )
    data = recipe.data
    if images_found != data.num_train_images:
        notes.append(
            f"note: {data.root} holds {images_found} {data.train_split} images, "
            f"data.num_train_images says {data.num_train_images} "
            "(the schedule uses the recipe's number)"
        )
    return notes


def open_run(
    recipe: Recipe,
    state: TrainingState,
    directory: RunDirectory,
    chief: bool,
    log: Callable[[str], None],
) -> TrainingRun:
    """The TrainingRun of `directory`: summaries, validation data and checkpoints."""
    descriptor = dataset_descriptor(recipe.data.dataset)
    num_classes = recipe.model.num_classes
    try:
        validation_data = eval_dataset(recipe)
    except MissingShardsError as error:
        log(f"note: validation skipped: {error}")
        validation_data = None
    summaries = TensorBoardSummaries(
        directory.tensorboard if chief else None,
        [descriptor.class_name(index) for index in range(num_classes)],
    )
    return TrainingRun(
        state,
        directory,
        chief=chief,
        keep_checkpoints=recipe.train.keep_checkpoints,
        summaries=summaries,
        validation_data=validation_data,
        num_classes=num_classes,
        palette=descriptor.palette(),
        validation_images=recipe.train.validation_images,
        image_panels=recipe.train.image_panels,
    )


def _validation_line(step: int, validation: dict) -> str:
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
                    progress.write(_validation_line(current, validation))
    return stop.requested


def train(
    recipe: Recipe,
    workdir: str | Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    init_weights: str = "",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Train `recipe` in `workdir`, resuming from its newest checkpoint if any.

    Args:
        recipe: Recipe. Everything about the run.
        workdir: str or Path. The run directory (created if missing).
        strategy: tf.distribute.Strategy or None. Defaults to the one
            `recipe.train.distribution` names.
        init_weights: str. Initial weights file, overriding
            `recipe.train.init_weights`; used only when there is no checkpoint.
        progress: bool. Show a progress bar.
        log: function taking one line of text.

    Returns:
        RunSummary.

    Raises:
        MissingShardsError: no training shards (names path and converter command).
        ShardsMismatchError: the shards' manifest names another dataset, class
            count or ignore label than the recipe.
        RecipeChangedError: the directory's checkpoints were trained with a recipe
            that differs in keys that may not change on resume.
        RunInUseError: another process is training in the directory.
        CheckpointError: checkpoints exist but none restores, or one cannot be
            written (disk full, no permission).
        CorruptShardError: a shard's size differs from its manifest entry (before
            training), or holds an unreadable record (then the last finished step
            is checkpointed first).
        FileNotFoundError: the initial weights file is missing.
        InitialWeightsError: the initial weights do not fit the model.
        DistributionError: the recipe's strategy cannot be built here (e.g.
            `multi_worker` without TF_CONFIG).
        TrainingDiverged: the loss or the weights became NaN or Inf; no checkpoint
            is written for it, so the newest checkpoint is the last good one.

    Example:
        >>> summary = train(load_recipe("recipes/voc.yaml"), "runs/voc")
        >>> print(summary.format())
    """
    config = recipe.train
    init_weights = init_weights or config.init_weights
    if init_weights:
        require_weights_file(init_weights)
    # Bad data or a changed recipe is reported before TensorFlow looks for devices
    # (no log noise) and before anything is built or written.
    data = recipe.data
    files = shard_files(data.root, data.train_split, data.dataset)
    check_shard_sizes(files, data.dataset)
    check_shards_fit(data.root, dataset=data.dataset,
                     num_classes=recipe.model.num_classes,
                     ignore_label=data.ignore_label)  # fmt: skip
    directory = RunDirectory(Path(workdir))
    resumed = bool(checkpoint_steps(directory.checkpoints))
    changes = recipe_changes(recipe, directory) if resumed else []
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = strategy or build_strategy(config.distribution)
    chief = is_chief(strategy)
    say = log if chief else (lambda _: None)
    notes = run_notes(recipe, strategy.num_replicas_in_sync, sum(record_counts(files)))
    notes += [f"note: resuming with {change}" for change in changes]
    # Workers share the chief's directory; the chief holds it against other runs.
    with directory.locked() if chief else contextlib.nullcontext():
        for note in notes:
            say(note)
        return train_in(directory, recipe, strategy, files, init_weights=init_weights,
                        show_bar=progress and chief, log=say)  # fmt: skip


def _naming_bad_shards(batches: Iterator, files: list[str], verify: str) -> Iterator:
    """`batches`, with a record the reader cannot read reported by its shard."""
    while True:
        try:
            batch = next(batches)
        except tf.errors.DataLossError as error:
            found = find_corrupt_shard(files)
            name, problem = found or ("a shard", error.message.strip().splitlines()[0])
            raise CorruptShardError(
                f"{name}: unreadable record ({problem}); check the shards with: "
                f"{verify}"
            ) from None
        yield batch


def train_in(
    directory: RunDirectory,
    recipe: Recipe,
    strategy: tf.distribute.Strategy,
    files: list[str],
    *,
    init_weights: str,
    show_bar: bool,
    log: Callable[[str], None],
) -> RunSummary:
    """Build, restore or initialise, train and validate in a checked run directory.

    `train` without its checks: the caller has verified the data and the recipe and
    holds the directory. Arguments as `train`'s, plus the training split's shard
    `files`; `log` is a no-op off the chief.
    """
    config = recipe.train
    chief = is_chief(strategy)
    directory.root.mkdir(parents=True, exist_ok=True)
    state = build_training_state(recipe, strategy)
    run = open_run(recipe, state, directory, chief, log)
    for line in run.restore_or_initialise(init_weights):
        log(line)
    if chief:
        save_recipe(recipe, directory.recipe)

    start, steps = run.step, state.total_steps
    batches = _naming_bad_shards(
        iter(
            strategy.distribute_datasets_from_function(
                lambda context: train_dataset(recipe, context, start_step=start)
            )
        ),
        files,
        dataset_descriptor(recipe.data.dataset).verifier(recipe.data.root),
    )
    progress_report = TrainingProgress(
        steps,
        start,
        state.global_batch,
        config.log_every,
        show_bar=show_bar,
        log=log,
        scalars=run.summaries.scalars,
    )
    # Several workers must save together, so there a signal stops as a kill does.
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    try:
        stop_signal = train_steps(
            run,
            batches,
            progress_report,
            steps=steps,
            checkpoint_every=config.checkpoint_every,
            validate_every=config.validate_every,
            stop_on_signals=not multi_worker,
        )
        progress_report.close()
        end = run.step
        if end > start:
            run.save(end)
        # A signal during the last step changes nothing: the run is complete.
        stopped_by = stop_signal.name if stop_signal and end < steps else ""
        if stopped_by:
            log(f"{stopped_by} received: stopped after step {end} with a checkpoint; "
                "run the same command to continue")  # fmt: skip
        validation = run.validate(end) if end > start and not stopped_by else None
        if validation:
            log(_validation_line(end, validation))
    except CorruptShardError as error:  # keep what was trained before the bad record
        if run.step > start and run.checkpoints.latest != str(
            directory.checkpoint(run.step)
        ):
            run.save(run.step)
        raise CorruptShardError(
            f"{error}; stopped after step {run.step}, the newest checkpoint is "
            f"{run.latest_checkpoint}"
        ) from None
    finally:
        progress_report.close()
        run.close()
    return RunSummary(
        recipe=recipe.name,
        workdir=str(directory.root),
        replicas=strategy.num_replicas_in_sync,
        global_batch=state.global_batch,
        start_step=start,
        end_step=end,
        total_steps=steps,
        final_loss=progress_report.final_loss,
        images_per_second=progress_report.images_per_second,
        seconds=progress_report.seconds,
        checkpoint=run.latest_checkpoint,
        validation=validation,
        weights_fingerprint=weights_fingerprint(state.model),
        stopped_by=stopped_by,
    )
