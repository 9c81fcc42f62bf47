"""Reproduce a seed recipe's row of SPEC §1: fetch, convert, import the initial
weights, train, evaluate, and write `reproduction.md` and `reproduction.json` in the
run, our mIoU beside the paper's and the seed's (`catalog.published_results`).

Each step is reused when its output is there (the fetch record, the converted
shards' manifest, the imported `.npz`, a run at its last step, the evaluation of
that step) and says so; Ctrl-C at any point, then the same command, continues.
Like the demo, the job converts as a user would, so it may use the converters.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab import shard_format
from tfdeeplab.atomic_files import write_json, write_text
from tfdeeplab.catalog.published_results import PUBLISHED_RESULTS, PublishedResult
from tfdeeplab.config import Recipe, load_recipe
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.fetch.fetching import artifact_root, fetch_artifact
from tfdeeplab.fetch.registry import load_registry
from tfdeeplab.version import version_line

STEPS = ("fetch", "convert", "import", "train", "evaluate")
# The artifacts each dataset's converter takes.
DATASET_ARTIFACTS = {"voc": ("voc2012", "sbd"), "cityscapes": ("cityscapes",)}
RESULT_JSON = "reproduction.json"
RESULT_MARKDOWN = "reproduction.md"


class ReproduceError(TfdeeplabError, ValueError):
    """A reproduction that cannot be planned; the message names the recipe or step."""


@dataclasses.dataclass(frozen=True)
class ReproductionPlan:
    """What `reproduce` does for one recipe.

    Args:
        recipe: Recipe. The recipe with `data.root` and `train.init_weights`
            pointing at what the earlier steps make.
        published: PublishedResult. Its row of SPEC §1.
        artifacts: tuple of str. The `fetch` artifacts it needs.
        shards: Path. Where the converted shards go.
        weights: Path or None. The imported initial weights (`.npz`).
        run: Path. The run directory.
        steps: tuple of str. The steps to run, in order.
    """

    recipe: Recipe
    published: PublishedResult
    artifacts: tuple[str, ...]
    shards: Path
    weights: Path | None
    run: Path
    steps: tuple[str, ...]

    def commands(self, data: Path) -> list[str]:
        """The same steps as commands a user can run by hand."""
        name, p = self.recipe.name, self.published
        lines = [f"python -m tfdeeplab.fetch {' '.join(self.artifacts)} --dir {data}"]
        if "import" in self.steps and self.weights is not None:
            lines.append(f"python -m tfdeeplab.fetch {p.init_artifact} --dir {data}")
        lines.append(_convert_command(self.recipe.data.dataset, data, self.shards))
        if "import" in self.steps and self.weights is not None:
            lines.append(
                f"python -m tfdeeplab.weights import --format {p.init_format} "
                f"--source {data / p.init_artifact / p.init_file} --recipe {name} "
                f"--out {self.weights}"
            )
        init = f" --init {self.weights}" if self.weights else ""
        lines.append(
            f"python -m tfdeeplab.train {name} --workdir {self.run} "
            f"--set data.root={self.shards}{init}"
        )
        lines.append(
            f"python -m tfdeeplab.evaluate {name} --checkpoint {self.run} "
            f"--set data.root={self.shards} --json {self.run / 'eval.json'}"
        )
        return lines


def _convert_command(dataset: str, data: Path, shards: Path) -> str:
    if dataset == "voc":
        return (
            "python -m tfrecords_tools.voc --voc-root "
            f"{data / 'voc2012' / 'VOCdevkit' / 'VOC2012'} --sbd-root "
            f"{data / 'sbd' / 'benchmark_RELEASE' / 'dataset'} --out {shards}"
        )
    root = data / "cityscapes"
    return f"python -m tfrecords_tools.cityscapes --root {root} --out {shards}"


def plan_reproduction(
    recipe_name: str,
    data: Path,
    runs: Path,
    overrides: Sequence[str] = (),
    steps: Sequence[str] = STEPS,
) -> ReproductionPlan:
    """The plan for one seed recipe.

    Args:
        recipe_name: str. A recipe of SPEC §1 (`catalog.published_results`).
        data: Path. DATA: artifacts, shards and imported weights.
        runs: Path. Where the run directory goes (`runs/<name>`).
        overrides: `key=value` strings on top of the recipe.
        steps: the steps to run (`STEPS` order).

    Raises:
        ReproduceError: a recipe that is not a seed recipe, an unknown step.
        RecipeError: the overrides do not fit the recipe.
    """
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise ReproduceError(
            f"--steps: unknown step {unknown[0]!r} (steps: {', '.join(STEPS)})"
        )
    name = Path(recipe_name).name.removesuffix(".yaml")
    if name not in PUBLISHED_RESULTS:
        raise ReproduceError(
            f"{recipe_name}: not a recipe of SPEC §1's table (reproducible: "
            f"{', '.join(PUBLISHED_RESULTS)})"
        )
    published = PUBLISHED_RESULTS[name]
    dataset = load_recipe(recipe_name, list(overrides)).data.dataset
    shards = (data / "shards" / dataset).resolve()
    weights = (data / "weights" / f"{published.init_artifact}.npz").resolve()
    weights = weights if "import" in steps else None
    more = [f"data.root={shards}"]
    if weights is not None:
        more.append(f"train.init_weights={weights}")
    recipe = load_recipe(recipe_name, [*list(overrides), *more])
    return ReproductionPlan(
        recipe=recipe,
        published=published,
        artifacts=DATASET_ARTIFACTS[dataset],
        shards=shards,
        weights=weights,
        run=(runs / name).resolve(),
        steps=tuple(step for step in STEPS if step in steps),
    )


def done_steps(plan: ReproductionPlan, data: Path, registry: dict) -> dict:
    """Which of the plan's steps a run would reuse: {step: bool}."""
    from tfdeeplab.fetch.fetching import is_fetched

    recipe = plan.recipe
    step = _finished_step(plan.run)
    done = {
        "fetch": all(is_fetched(registry[name], data) for name in plan.artifacts),
        "convert": _converted(
            plan.shards, (recipe.data.train_split, recipe.data.eval_split)
        ),
        "import": plan.weights is not None and plan.weights.is_file(),
        "train": step is not None and step >= _total_steps(recipe),
        "evaluate": _evaluated(plan.run, step),
    }
    return {name: done[name] for name in plan.steps}


def _total_steps(recipe: Recipe) -> int:
    from tfdeeplab.training.builder import total_steps

    return total_steps(
        recipe.train, recipe.data.num_train_images, recipe.train.replicas
    )


def dry_run_lines(plan: ReproductionPlan, data: Path, registry: dict) -> list[str]:
    """The plan as text: the steps and whether each is done, the downloads and
    disk they need, and the commands a user can run by hand."""
    from tfdeeplab.fetch.plan import plan_lines

    done = done_steps(plan, data, registry)
    lines = [f"{plan.recipe.name} -> {plan.run}"]
    lines += [
        f"  {step}: {'done, reused' if d else 'to do'}" for step, d in done.items()
    ]
    artifacts = list(plan.artifacts)
    if plan.weights is not None:
        artifacts.append(plan.published.init_artifact)
    lines += [
        line
        for line in plan_lines(registry, artifacts, data)
        if not line.startswith("then: ")
    ]
    lines.append("by hand:")
    lines += [f"  {command}" for command in plan.commands(data)]
    return lines


def reproduce(
    plan: ReproductionPlan,
    data: Path,
    *,
    fetch_options: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the plan's steps, reusing what is done; write the reproduction files.

    Args:
        plan: ReproductionPlan (`plan_reproduction`).
        data: Path. DATA.
        fetch_options: dict or None. `fetch_artifact`'s `registry`, `mirror`,
            `from_dir` (the registry as a loaded dict under `registry`).
        progress: bool. Show progress.
        log: function taking one line of text.

    Returns:
        The reproduction record written to `reproduction.json`.

    Example:
        >>> record = reproduce(plan_reproduction("voc", Path("data"), Path("runs")),
        ...                    Path("data"))
    """
    options = dict(fetch_options or {})
    registry = options.pop("registry", None) or load_registry()
    timings, reused, facts = {}, {}, {"images_per_second": _earlier_speed(plan.run)}
    steps = {
        "fetch": lambda: _fetch(plan, data, registry, options, progress, log),
        "convert": lambda: _convert(plan, data, registry, progress, log),
        "import": lambda: _import(plan, data, registry, options, progress, log),
        "train": lambda: _train(plan, facts, progress, log),
        "evaluate": lambda: _evaluate(plan, progress, log),
    }
    for step in plan.steps:
        start = time.perf_counter()
        reused[step] = steps[step]()
        timings[step] = round(time.perf_counter() - start, 3)
        state = "reused" if reused[step] else f"done in {timings[step]:.1f} s"
        log(f"reproduce {plan.recipe.name}: {step} {state}")
    record = _record(plan, timings, reused, facts)
    plan.run.mkdir(parents=True, exist_ok=True)
    write_json(plan.run / RESULT_JSON, record)
    write_text(plan.run / RESULT_MARKDOWN, reproduction_markdown(record))
    log(f"reproduction: {plan.run / RESULT_MARKDOWN}")
    return record


def _fetch(plan, data, registry, options, progress, log) -> bool:
    results = [
        fetch_artifact(registry[name], data, progress=progress, log=log, **options)
        for name in plan.artifacts
    ]
    return all(result.reused for result in results)


def _convert(plan, data, registry, progress, log) -> bool:
    from tfrecords_tools.cityscapes import convert_cityscapes
    from tfrecords_tools.conversion import ConversionError, ConversionOptions
    from tfrecords_tools.voc import convert_voc

    recipe = plan.recipe
    splits = (recipe.data.train_split, recipe.data.eval_split)
    if _converted(plan.shards, splits):
        return True
    options = ConversionOptions(progress=progress)
    if recipe.data.dataset == "voc":
        reports = convert_voc(
            artifact_root(registry["voc2012"], data),
            plan.shards,
            sbd_root=artifact_root(registry["sbd"], data),
            splits=splits,
            options=options,
            log=log,
        )
    else:
        reports = convert_cityscapes(
            artifact_root(registry["cityscapes"], data),
            plan.shards,
            splits=splits,
            options=options,
            log=log,
        )
    refused = [report for report in reports if not report.written]
    if refused:
        raise ConversionError(
            f"{plan.shards}: the converter refused the {refused[0].split} split "
            f"({refused[0].problems[0]})"
        )
    return False


def _converted(shards: Path, splits) -> bool:
    try:
        manifest = json.loads((shards / shard_format.MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    held = manifest.get(shard_format.SPLITS, {})
    return all(split in held for split in splits)


def _import(plan, data, registry, options, progress, log) -> bool:
    from tfdeeplab.experiment.weights_job import import_weights

    if plan.weights.is_file():
        return True
    published = plan.published
    fetch_artifact(
        registry[published.init_artifact], data, progress=progress, log=log, **options
    )
    source = artifact_root(registry[published.init_artifact], data)
    plan.weights.parent.mkdir(parents=True, exist_ok=True)
    recipe = dataclasses.replace(
        plan.recipe, train=dataclasses.replace(plan.recipe.train, init_weights="")
    )
    source_file = source / published.init_file
    import_weights(recipe, published.init_format, source_file, plan.weights)
    return False


def _train(plan, facts: dict, progress, log) -> bool:
    from tfdeeplab.experiment.train_job import train

    summary = train(plan.recipe, plan.run, progress=progress, log=log)
    if summary.end_step == summary.start_step:
        return True  # the run was at its last step already
    facts["images_per_second"] = round(summary.images_per_second, 3)
    return False


def _finished_step(run: Path) -> int | None:
    from tfdeeplab.run_directory import RunDirectory, checkpoint_steps

    steps = checkpoint_steps(RunDirectory(run).checkpoints)
    return max(steps) if steps else None


def _evaluated(run: Path, step: int | None) -> bool:
    """Whether `run/eval.json` is the evaluation of checkpoint `step`."""
    try:
        done = json.loads((run / "eval.json").read_text())
    except (OSError, ValueError):
        return False
    return step is not None and str(done.get("checkpoint", "")).endswith(f"ckpt-{step}")


def _earlier_speed(run: Path) -> float | None:
    try:
        return json.loads((run / RESULT_JSON).read_text()).get("images_per_second")
    except (OSError, ValueError, AttributeError):
        return None


def _evaluate(plan, progress, log) -> bool:
    from tfdeeplab.experiment.evaluate_job import evaluate

    record_path = plan.run / "eval.json"
    if _evaluated(plan.run, _finished_step(plan.run)):
        return True
    evaluate(
        plan.recipe,
        checkpoint=plan.run,
        json_path=record_path,
        progress=progress,
        log=log,
    )
    return False


def _record(plan: ReproductionPlan, timings: dict, reused: dict, facts: dict) -> dict:
    evaluation = {}
    if (plan.run / "eval.json").is_file():
        evaluation = json.loads((plan.run / "eval.json").read_text())
    published = plan.published
    miou = evaluation.get("miou")
    return {
        "recipe": plan.recipe.name,
        "source": published.source,
        "miou": None if miou is None else round(100 * miou, 2),
        "paper_miou": published.paper_miou,
        "seed_miou": published.seed_miou,
        "class_iou": {
            name: None if iou is None else round(100 * iou, 2)
            for name, iou in evaluation.get("class_iou", {}).items()
        },
        "images": evaluation.get("images"),
        "checkpoint": evaluation.get("checkpoint"),
        "steps": {
            step: {"seconds": timings[step], "reused": reused[step]} for step in timings
        },  # fmt: skip
        "images_per_second": facts["images_per_second"],
        "devices": _devices(),
        "software": _software(),
        "code": version_line(),
    }


def _devices() -> list[str]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in gpus
    ]
    return names or [f"CPU ({platform.processor() or platform.machine()})"]


def _software() -> dict:
    import numpy
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }


def _reused(entry: dict) -> str:
    return "reused" if entry["reused"] else ""


def _figure(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def reproduction_markdown(record: dict) -> str:
    """`reproduction.md`: the row beside SPEC §1's, per-class IoU, steps, software."""
    lines = [
        f"# Reproduction of {record['recipe']} ({record['source']})",
        "",
        "| recipe | ours | paper | seed |",
        "|---|---|---|---|",
        f"| `{record['recipe']}` | {_figure(record['miou'])} | "
        f"{_figure(record['paper_miou'])} | {_figure(record['seed_miou'])} |",
        "",
        f"mIoU in percent on {record['images']} validation images, checkpoint "
        f"`{record['checkpoint']}`.",
        "",
        "| class | IoU |",
        "|---|---|",
        *[f"| {name} | {_figure(iou)} |" for name, iou in record["class_iou"].items()],
        "",
        "| step | seconds | |",
        "|---|---|---|",
        *[
            f"| {step} | {entry['seconds']:.1f} | {_reused(entry)} |"
            for step, entry in record["steps"].items()
        ],
        "",
        f"Training: {_figure(record['images_per_second'])} images/s. Devices: "
        f"{', '.join(record['devices'])}. Code: {record['code']}. Software: "
        + ", ".join(f"{key} {value}" for key, value in record["software"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"
