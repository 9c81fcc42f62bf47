"""`python -m tfdeeplab.evaluate RECIPE --checkpoint PATH [--split val] [--set k=v ...]
[--save-predictions DIR] [--json FILE]`

Evaluates a checkpoint (or a run directory's newest one, or `--weights FILE`) on a
split by SPEC §4's protocol as the recipe's `eval` section sets it: scales, sliding
window of the crop size, flip, dense CRF (in worker processes); with several GPUs
the images are spread over them. Prints every class's IoU, mIoU, pixel and mean
accuracy; `--json` writes them with the confusion matrix (and a confusion
picture beside it), and a run directory's TensorBoard gets them under `eval/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from tfdeeplab.config.cli import (
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    load_recipe_or_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.evaluate", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help="recipe YAML file, e.g. recipes/voc.yaml")
    add_weights_arguments(parser)
    parser.add_argument("--split", help="split to evaluate (default: data.eval_split)")
    parser.add_argument(
        "--save-predictions",
        type=Path,
        metavar="DIR",
        help="write each prediction in the benchmark's format",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_override_argument(parser, "eval.flip=true")
    args = parser.parse_args(argv)

    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    try:
        return _evaluate(recipe, args)
    except _one_line_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _one_line_errors() -> tuple:
    """The errors that end the command in one line (imported after the recipe loads)."""
    from tfdeeplab.data.records import MissingShardsError
    from tfdeeplab.evaluation.crf import CrfUnavailableError
    from tfdeeplab.evaluation.crf_pool import CrfWorkerError
    from tfdeeplab.evaluation.evaluator import EmptySplitError
    from tfdeeplab.evaluation.weights import WeightsError
    from tfdeeplab.training.strategy import DistributionError

    return (MissingShardsError, CrfUnavailableError, CrfWorkerError, EmptySplitError,
            WeightsError, DistributionError)  # fmt: skip


def _run_directory(checkpoint: str | None, prefix: str) -> Path | None:
    """The run directory a checkpoint belongs to, if it is a trainer's."""
    if (
        checkpoint
        and Path(checkpoint).is_dir()
        and (Path(checkpoint) / "checkpoints").is_dir()
    ):
        return Path(checkpoint)
    parent = Path(prefix).parent
    return parent.parent if parent.name == "checkpoints" else None


def _evaluate(recipe, args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from tfdeeplab.catalog.datasets import dataset_descriptor
    from tfdeeplab.data.builder import eval_dataset
    from tfdeeplab.data.records import record_counts, shard_files
    from tfdeeplab.evaluation import outputs
    from tfdeeplab.evaluation.builder import crf_arguments, inference_settings
    from tfdeeplab.evaluation.crf import require_crf
    from tfdeeplab.evaluation.evaluator import evaluate_split
    from tfdeeplab.evaluation.weights import checkpoint_step, load_weights
    from tfdeeplab.models import build_model
    from tfdeeplab.run_directory import RunDirectory
    from tfdeeplab.training.strategy import evaluation_strategy
    from tfdeeplab.training.summaries import TensorBoardSummaries

    data = recipe.data
    split = args.split or data.eval_split
    files = shard_files(data.root, split, data.dataset)  # missing shards: one line
    crf = None
    if recipe.eval.crf.enabled:
        require_crf()  # before any work
        crf = crf_arguments(recipe)
    strategy = evaluation_strategy(recipe.train.distribution)
    with strategy.scope():
        model = build_model(recipe.model)
    loaded = load_weights(model, checkpoint=args.checkpoint, weights=args.weights)
    descriptor = dataset_descriptor(data.dataset)
    names = [descriptor.class_name(i) for i in range(recipe.model.num_classes)]
    settings = inference_settings(recipe)
    save = None
    if args.save_predictions:
        write = outputs.submission_writer(descriptor, args.save_predictions)
        save = lambda example, labels: write(example["id"].decode(), labels)  # noqa: E731
    replicas = strategy.num_replicas_in_sync
    print(f"evaluating {loaded} on {data.root} {split}: scales "
          f"{list(settings.scales)}, window {list(settings.window)}, flip "
          f"{settings.flip}, CRF {'on' if crf else 'off'}"
          + (f", {replicas} replicas" if replicas > 1 else ""))  # fmt: skip
    result = evaluate_split(model, eval_dataset(recipe, split), settings,
                            recipe.model.num_classes, crf=crf,
                            crf_workers=recipe.eval.crf.workers, strategy=strategy,
                            on_prediction=save, progress=not args.no_progress,
                            total=sum(record_counts(files)))  # fmt: skip
    print(outputs.metrics_table(result.metrics, names))
    print(f"{result.images} images in {result.seconds:.1f} s "
          f"({result.images / result.seconds:.2f} images/s)")  # fmt: skip
    if args.json:
        record = outputs.metrics_json(
            result.metrics, result.matrix, names, images=result.images,
            checkpoint=loaded, recipe=recipe.name,
            settings={**dataclasses.asdict(settings), "crf": crf, "split": split},
        )  # fmt: skip
        outputs.write_json(args.json, record)
        picture = args.json.with_suffix(".confusion.png")
        Image.fromarray(outputs.confusion_picture(result.matrix)).save(picture)
        print(f"wrote {args.json} and {picture}")
    run = _run_directory(args.checkpoint, loaded) if args.checkpoint else None
    step = checkpoint_step(loaded) if run else None
    if run is not None and step is not None:
        summaries = TensorBoardSummaries(RunDirectory(run).tensorboard, names)
        values = {f"eval/{key}": result.metrics[key]
                  for key in ("miou", "pixel_accuracy", "mean_accuracy")}  # fmt: skip
        for name, iou in zip(names, result.metrics["class_iou"], strict=True):
            if not np.isnan(iou):
                values[f"eval_class_iou/{name}"] = float(iou)
        summaries.scalars(step, values)
        summaries.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
