"""Training an experiment in a run directory: `train(experiment, workdir) ->
RunSummary`.

The job as it goes: checks that need no TensorFlow device (the initial weights
file, the shards and their manifest, a changed recipe), the strategy, the lock on
the run directory, the training state (`training.builder.build_training_state`),
the run (`training.run.TrainingRun`: restore or initialise), the loop
(`training.trainer.train_loop`) and the summary. Running it again on the same
directory continues from the newest checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from tfdeeplab import shard_format
from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import lookup
from tfdeeplab.config import Recipe, save_recipe
from tfdeeplab.data.builder import eval_dataset, train_dataset
from tfdeeplab.data.records import (
    MissingShardsError,
    check_shard_sizes,
    check_shards_fit,
    naming_bad_shards,
    record_counts,
)
from tfdeeplab.experiment.experiment import Experiment
from tfdeeplab.experiment.init_source import init_source
from tfdeeplab.run_directory import RunDirectory, checkpoint_steps
from tfdeeplab.training.builder import TrainingState, build_training_state
from tfdeeplab.training.progress import TrainingProgress
from tfdeeplab.training.resume import recipe_changes
from tfdeeplab.training.run import TrainingRun, weights_fingerprint
from tfdeeplab.training.strategy import build_strategy, is_chief
from tfdeeplab.training.summaries import TensorBoardSummaries
from tfdeeplab.training.trainer import LoopOutcome, train_loop
from tfdeeplab.version import version_line


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

    @property
    def complete(self) -> bool:
        """True when the run has reached its last step."""
        return self.end_step >= self.total_steps

    def format(self) -> str:
        """The one-screen summary printed at the end of a run."""
        if self.start_step == self.end_step >= self.total_steps:  # nothing to train
            return "\n".join(
                [
                    f"recipe            {self.recipe}",
                    f"work directory    {self.workdir}",
                    f"steps             the run was already complete at step "
                    f"{self.end_step} of {self.total_steps}; raise train.max_steps "
                    "to train on",
                    f"checkpoint        {self.checkpoint}",
                    f"weights           {self.weights_fingerprint}",
                ]
            )
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
    per_replica = lookup(
        choices.STATISTICS_PER_REPLICA, recipe.model.batch_norm, "model.batch_norm"
    )
    if per_replica and replicas > 1:
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


def check_training_data(experiment: Experiment) -> tuple[list[str], list[str]]:
    """The training split's shards, checked before anything is built.

    Returns:
        (shard files, notes): a note when the shards have no manifest to be
        checked against.

    Raises:
        MissingShardsError, CorruptShardError, ShardsMismatchError, ManifestError:
            one line each (see `tfdeeplab.data.records`).
    """
    recipe = experiment.recipe
    data = recipe.data
    files = experiment.shard_files(data.train_split)
    notes = []
    if not (Path(data.root).expanduser() / shard_format.MANIFEST).is_file():
        notes.append(
            f"note: {data.root} has no {shard_format.MANIFEST}: its shards are read "
            "as found, unchecked (the converter writes one)"
        )
    check_shard_sizes(files, experiment.dataset)
    check_shards_fit(
        data.root,
        dataset=data.dataset,
        num_classes=recipe.model.num_classes,
        ignore_label=data.ignore_label,
    )
    return files, notes


def open_run(
    experiment: Experiment,
    state: TrainingState,
    directory: RunDirectory,
    chief: bool,
    log: Callable[[str], None],
) -> TrainingRun:
    """The TrainingRun of `directory`: summaries, validation data and checkpoints."""
    recipe = experiment.recipe
    num_classes = experiment.num_classes
    try:
        validation_data = eval_dataset(recipe, experiment.shard_files())
    except MissingShardsError as error:
        log(f"note: validation skipped: {error}")
        validation_data = None
    summaries = TensorBoardSummaries(
        directory.tensorboard if chief else None,
        list(experiment.class_names),
    )
    return TrainingRun(
        state,
        directory,
        chief=chief,
        keep_checkpoints=recipe.train.keep_checkpoints,
        summaries=summaries,
        validation_data=validation_data,
        num_classes=num_classes,
        palette=experiment.dataset.palette(),
        validation_images=recipe.train.validation_images,
        image_panels=recipe.train.image_panels,
    )


def train(
    experiment: Experiment | Recipe,
    workdir: str | Path,
    *,
    strategy: tf.distribute.Strategy | None = None,
    init_weights: str = "",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunSummary:
    """Train `recipe` in `workdir`, resuming from its newest checkpoint if any.

    Args:
        experiment: Experiment (or a Recipe): everything about the run.
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
        TfdeeplabError: one line each, before anything is built where it can be:
            missing or corrupt shards, shards of another dataset, a recipe that
            changed keys it may not on resume, a directory in use, checkpoints
            that do not restore or cannot be written, missing or unfitting
            initial weights, a strategy that cannot be built here.
        TrainingDiverged: the loss or the weights became NaN or Inf; no checkpoint
            is written for it, so the newest checkpoint is the last good one.

    Example:
        >>> summary = train(Experiment.from_file("voc"), "runs/voc")
        >>> print(summary.format())
    """
    experiment = Experiment.of(experiment)
    recipe = experiment.recipe
    init_weights = init_weights or recipe.train.init_weights
    if init_weights:  # a file (checked now) or a run's checkpoint
        init_weights = init_source(init_weights)
    # Bad data or a changed recipe is reported before TensorFlow looks for devices
    # (no log noise) and before anything is built or written.
    files, notes = check_training_data(experiment)
    directory = RunDirectory(Path(workdir).expanduser())
    resumed = bool(checkpoint_steps(directory.checkpoints))
    changes = recipe_changes(recipe, directory) if resumed else []
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = strategy or build_strategy(recipe.train.distribution)
    chief = is_chief(strategy)
    say = log if chief else (lambda _: None)
    notes += run_notes(recipe, strategy.num_replicas_in_sync, sum(record_counts(files)))
    notes += [f"note: resuming with {change}" for change in changes]
    # Workers share the chief's directory; the chief holds it against other runs.
    with directory.locked() if chief else contextlib.nullcontext():
        say(f"{version_line()}: training {recipe.name} in {directory.root}")
        for note in notes:
            say(note)
        return _train_in(
            directory,
            experiment,
            strategy,
            files,
            init_weights=init_weights,
            show_bar=progress and chief,
            log=say,
        )


def _train_in(
    directory: RunDirectory,
    experiment: Experiment,
    strategy: tf.distribute.Strategy,
    files: list[str],
    *,
    init_weights: str,
    show_bar: bool,
    log: Callable[[str], None],
) -> RunSummary:
    """Build, restore or initialise, then the loop, in a checked and held directory."""
    recipe = experiment.recipe
    config = recipe.train
    chief = is_chief(strategy)
    directory.root.mkdir(parents=True, exist_ok=True)
    state = build_training_state(recipe, strategy)
    run = open_run(experiment, state, directory, chief, log)
    for line in run.restore_or_initialise(init_weights):
        log(line)
    if chief:
        save_recipe(recipe, directory.recipe)
    start = run.step
    batches = naming_bad_shards(
        iter(
            strategy.distribute_datasets_from_function(
                lambda context: train_dataset(recipe, files, context, start_step=start)
            )
        ),
        files,
        experiment.verifier(),
    )
    progress = TrainingProgress(
        state.total_steps,
        start,
        state.global_batch,
        config.log_every,
        show_bar=show_bar,
        log=log,
        scalars=run.summaries.scalars,
    )
    outcome = train_loop(
        run,
        batches,
        progress,
        steps=state.total_steps,
        checkpoint_every=config.checkpoint_every,
        validate_every=config.validate_every,
        # Several workers must save together, so there a signal stops as a kill does.
        stop_on_signals=not isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ),
        log=log,
    )
    return _summary(recipe, directory, strategy, state, run, start, progress, outcome)


def _summary(
    recipe: Recipe,
    directory: RunDirectory,
    strategy: tf.distribute.Strategy,
    state: TrainingState,
    run: TrainingRun,
    start: int,
    progress: TrainingProgress,
    outcome: LoopOutcome,
) -> RunSummary:
    return RunSummary(
        recipe=recipe.name,
        workdir=str(directory.root),
        replicas=strategy.num_replicas_in_sync,
        global_batch=state.global_batch,
        start_step=start,
        end_step=outcome.end_step,
        total_steps=state.total_steps,
        final_loss=progress.final_loss,
        images_per_second=progress.images_per_second,
        seconds=progress.seconds,
        checkpoint=run.latest_checkpoint,
        validation=outcome.validation,
        weights_fingerprint=weights_fingerprint(state.model),
        stopped_by=outcome.stopped_by,
    )
