"""The training loop of `python -m tfdeeplab.train`: one recipe, one work directory.

A run directory holds the resolved recipe (`recipe.yaml`), checkpoints
(`checkpoints/ckpt-<step>`) and TensorBoard logs (`tensorboard/`). Running the same
recipe on the same directory again continues from the newest checkpoint: weights,
optimizer state, step and hence schedule position and input stream.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdeeplab.config import Recipe, save_recipe
from tfdeeplab.data.palettes import class_names, dataset_palette
from tfdeeplab.data.pipeline import eval_dataset, train_dataset
from tfdeeplab.data.records import MissingShardsError, record_counts, shard_files
from tfdeeplab.models import build_model, weight_multipliers
from tfdeeplab.training.checkpoints import RunCheckpoints
from tfdeeplab.training.initial_weights import (
    load_initial_weights,
    require_weights_file,
)
from tfdeeplab.training.interrupts import StopRequests
from tfdeeplab.training.optimizer import build_optimizer
from tfdeeplab.training.progress import TrainingProgress
from tfdeeplab.training.schedules import build_schedule, total_steps
from tfdeeplab.training.step import TrainStep
from tfdeeplab.training.strategy import build_strategy, is_chief
from tfdeeplab.training.validation import ValidationResult, pad_panels, validate


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the message names the step and the checkpoint."""


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


def weights_fingerprint(model: keras.Model) -> str:
    """A short hash of every weight's bytes, to compare workers or runs."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def _weights_finite(model: keras.Model) -> bool:
    return bool(
        tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(v)) for v in model.trainable_variables]
        )
    )


class _Summaries:
    """TensorBoard scalars and images, written by the chief only."""

    def __init__(self, directory: Path | None, names: list[str]):
        self.writer = (
            tf.summary.create_file_writer(str(directory))
            if directory
            else tf.summary.create_noop_writer()
        )
        self.names = names

    def scalars(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def validation(self, step: int, result: ValidationResult) -> None:
        metrics = result.metrics
        values = {
            "validation/miou": metrics["miou"],
            "validation/pixel_accuracy": metrics["pixel_accuracy"],
            "validation/mean_accuracy": metrics["mean_accuracy"],
        }
        for name, iou in zip(self.names, metrics["class_iou"], strict=True):
            if not math.isnan(iou):
                values[f"validation_class_iou/{name}"] = float(iou)
        self.scalars(step, values)
        if result.panels:
            with self.writer.as_default(step=step):
                tf.summary.image(
                    "validation/input_truth_prediction",
                    pad_panels(result.panels),
                    max_outputs=len(result.panels),
                )
        self.writer.flush()


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
        FileNotFoundError: the initial weights file is missing.
        TrainingDiverged: the loss became NaN or Inf; no checkpoint is written for
            it, so the newest checkpoint is the last good one.

    Example:
        >>> summary = train(load_recipe("recipes/voc.yaml"), "runs/voc")
        >>> print(summary.format())
    """
    config = recipe.train
    init_weights = init_weights or config.init_weights
    if init_weights:
        require_weights_file(init_weights)
    # Missing data is reported before TensorFlow looks for devices (no log noise).
    files = shard_files(recipe.data.root, recipe.data.train_split, recipe.data.dataset)
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = strategy or build_strategy(config.distribution)
    chief = is_chief(strategy)
    say = log if chief else (lambda _: None)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    if replicas != config.replicas:
        say(
            f"note: the recipe was designed for {config.replicas} replica(s), this run "
            f"has {replicas}: global batch {global_batch}, steps per epoch follow it"
        )
    if recipe.model.batch_norm == "train" and replicas > 1:
        say(
            "note: batch_norm is train: every replica keeps its own moving "
            "statistics and the first replica's are saved; batch_norm: sync "
            "computes them over the global batch"
        )
    found = sum(record_counts(files))
    if found != recipe.data.num_train_images:
        say(
            f"note: {recipe.data.root} holds {found} {recipe.data.train_split} "
            f"images, data.num_train_images says {recipe.data.num_train_images} "
            "(the schedule uses the recipe's number)"
        )
    steps = total_steps(config, recipe.data.num_train_images, global_batch)

    keras.utils.set_random_seed(config.seed)
    # Steps completed; drives the schedule, the input stream's position and resume.
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    with strategy.scope():
        model = build_model(
            recipe.model,
            include_scale_logits=bool(recipe.model.msc_scales),
            dtype_policy=config.mixed_precision,  # a Keras dtype policy name
        )
        schedule = build_schedule(config, recipe.data.num_train_images, global_batch)
        optimizer = build_optimizer(config, schedule, step)
        optimizer.build(model.trainable_variables)
    checkpoints = RunCheckpoints(
        workdir / "checkpoints",
        config.keep_checkpoints,
        chief,
        model=model,
        optimizer=optimizer,
        step=step,
    )
    restored = checkpoints.restore_latest()
    if restored:
        say(f"resumed from {restored} at step {int(step.numpy())}")
    elif init_weights:
        report = load_initial_weights(model, init_weights)
        say(
            f"initial weights from {init_weights}: {report['loaded']} variables "
            f"loaded, {report['left_at_init']} left at their initialisation"
        )
    if chief:
        save_recipe(recipe, workdir / "recipe.yaml")
    start = int(step.numpy())

    try:
        validation_data = eval_dataset(recipe)
    except MissingShardsError as error:
        say(f"note: validation skipped: {error}")
        validation_data = None
    palette = dataset_palette(recipe.data.dataset)
    summaries = _Summaries(
        workdir / "tensorboard" if chief else None,
        class_names(recipe.data.dataset, recipe.model.num_classes),
    )

    def run_validation(at_step: int) -> dict | None:
        if validation_data is None or not chief:
            return None
        result = validate(
            model,
            validation_data,
            recipe.model.num_classes,
            palette,
            max_images=config.validation_images,
            panels=config.image_panels,
        )
        summaries.validation(at_step, result)
        message = (
            f"step {at_step}: validation mIoU {100 * result.metrics['miou']:.2f} "
            f"on {result.images} images"
        )
        progress_report.write(message)
        return {**result.metrics, "images": result.images}

    train_step = TrainStep(
        strategy,
        model,
        optimizer,
        weight_multipliers(model),
        weight_decay=config.weight_decay,
        gradient_reduction=config.gradient_reduction,
        ignore_label=recipe.data.ignore_label,
        jit_compile=config.jit_compile,
    )
    batches = iter(
        strategy.distribute_datasets_from_function(
            lambda context: train_dataset(recipe, context, start_step=start)
        )
    )

    def save_checkpoint(at_step: int) -> None:
        # A finite loss can still leave overflowed weights; never save those.
        if not _weights_finite(model):
            progress_report.close()
            checkpoints.close()
            raise TrainingDiverged(
                f"weights became NaN or Inf at step {at_step}; stopped without "
                f"saving, the newest checkpoint is still {checkpoints.latest or 'none'}"
            )
        checkpoints.save(at_step)

    progress_report = TrainingProgress(
        steps,
        start,
        global_batch,
        config.log_every,
        show_bar=progress and chief,
        log=say,
        scalars=summaries.scalars,
    )
    # Several workers must save together, so there a signal stops as a kill does.
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    with StopRequests(enabled=not multi_worker) as stop:
        for current in range(start + 1, steps + 1):
            loss = float(train_step(next(batches)))
            if not math.isfinite(loss):
                progress_report.close()
                checkpoints.close()
                raise TrainingDiverged(
                    f"loss became {loss} at step {current}; stopped without saving, "
                    f"the newest checkpoint is still {checkpoints.latest or 'none'}"
                )
            step.assign(current)
            progress_report.update(current, loss, float(optimizer.learning_rate))
            if stop.requested:
                break
            if current % config.checkpoint_every == 0 and current != steps:
                save_checkpoint(current)
            if config.validate_every and current % config.validate_every == 0:
                if current != steps:
                    run_validation(current)
    progress_report.close()

    end = int(step.numpy())
    if end > start:
        save_checkpoint(end)
    # A signal during the last step changes nothing: the run is complete.
    stopped_by = stop.requested.name if stop.requested and end < steps else ""
    if stopped_by:
        say(f"{stopped_by} received: stopped after step {end} with a checkpoint; "
            "run the same command to continue")  # fmt: skip
    validation = run_validation(end) if end > start and not stopped_by else None
    summaries.writer.flush()  # a stopped run skips the validation, which flushes
    checkpoints.close()
    return RunSummary(
        recipe=recipe.name,
        workdir=str(workdir),
        replicas=replicas,
        global_batch=global_batch,
        start_step=start,
        end_step=end,
        total_steps=steps,
        final_loss=progress_report.final_loss,
        images_per_second=progress_report.images_per_second,
        seconds=progress_report.seconds,
        checkpoint=checkpoints.latest or "none",
        validation=validation,
        weights_fingerprint=weights_fingerprint(model),
        stopped_by=stopped_by,
    )
