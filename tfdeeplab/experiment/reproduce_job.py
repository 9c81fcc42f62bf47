"""Reproduce a seed recipe's row of SPEC §1: fetch, convert, import the initial
weights, train, evaluate, and write `reproduction.md` and `reproduction.json` in the
run, our mIoU beside the paper's and the seed's (`catalog.published_results`).

A reproduction is one or two stages: `voc_aspp_msc` first pre-trains
`coco_voc_pretrain` on COCO's VOC categories and starts from that run, as the
DeepLab v2 paper did. Each step is reused when its output is there (the fetch
record, the converted shards' manifest, the imported `.npz`, a run at its last step,
the evaluation of that step) and says so; Ctrl-C at any point, then the same
command, continues. Like the demo, the job converts as a user would, so it may use
the converters.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab import shard_format
from tfdeeplab.atomic_files import write_json, write_text
from tfdeeplab.catalog.published_results import PUBLISHED_RESULTS, PublishedResult
from tfdeeplab.config import Recipe, load_recipe
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.experiment.reproduction_record import (
    reproduction_markdown,
    reproduction_record,
)
from tfdeeplab.fetch.fetching import artifact_root, fetch_artifact, is_fetched
from tfdeeplab.fetch.registry import load_registry

STEPS = ("fetch", "convert", "import", "train", "evaluate")
# The artifacts each kind of data is converted from.
DATASET_ARTIFACTS = {
    "voc": ("voc2012", "sbd"),
    "cityscapes": ("cityscapes",),
    "coco_voc": ("coco2017",),
}
# Recipes whose dataset is their shards' (`from_shards`): the data they convert.
PRETRAIN_DATA = {"coco_voc_pretrain": "coco_voc"}
RESULT_JSON = "reproduction.json"
RESULT_MARKDOWN = "reproduction.md"


class ReproduceError(TfdeeplabError, ValueError):
    """A reproduction that cannot be planned; the message names the recipe or step."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One recipe trained on its converted data.

    Args:
        name: str. The recipe.
        data_kind: str. `voc`, `cityscapes` or `coco_voc` (`DATASET_ARTIFACTS`).
        overrides: tuple of str. The user's `--set`, then `data.root` and
            `train.init_weights` at what the earlier steps make.
        shards: Path. Where its converted shards go.
        run: Path. Its run directory.
        weights: Path or None. The `.npz` its initial weights are imported to.
        init_run: Path or None. The earlier stage's run it starts from instead.
        evaluated: bool. Whether its run is evaluated (the last stage's is).
    """

    name: str
    data_kind: str
    overrides: tuple[str, ...]
    shards: Path
    run: Path
    weights: Path | None
    init_run: Path | None
    evaluated: bool

    @property
    def artifacts(self) -> tuple[str, ...]:
        """The `fetch` artifacts its data is converted from."""
        return DATASET_ARTIFACTS[self.data_kind]

    def recipe(self) -> Recipe:
        """Its recipe on its shards (a `from_shards` recipe once they exist)."""
        return load_recipe(self.name, list(self.overrides))


@dataclasses.dataclass(frozen=True)
class ReproductionPlan:
    """What `reproduce` does for one recipe of SPEC §1.

    Args:
        published: PublishedResult. Its row.
        stages: tuple of Stage. In order; the last is the recipe itself.
        steps: tuple of str. The steps to run, in `STEPS` order.
    """

    published: PublishedResult
    stages: tuple[Stage, ...]
    steps: tuple[str, ...]

    @property
    def final(self) -> Stage:
        """The stage of the recipe reproduced."""
        return self.stages[-1]

    @property
    def run(self) -> Path:
        """The run directory the reproduction files go to."""
        return self.final.run

    def commands(self, data: Path) -> list[str]:
        """The same steps as commands a user can run by hand."""
        p = self.published
        lines = []
        for stage in self.stages:
            lines.append(
                f"python -m tfdeeplab.fetch {' '.join(stage.artifacts)} --dir {data}"
            )
            lines += _convert_commands(stage, data)
            init = ""
            if stage.weights is not None:
                source = data / p.init_artifact / p.init_file
                lines.append(
                    f"python -m tfdeeplab.fetch {p.init_artifact} --dir {data}"
                )
                lines.append(
                    f"python -m tfdeeplab.weights import --format {p.init_format} "
                    f"--source {source} --recipe {stage.name} --out {stage.weights}"
                )
                init = f" --init {stage.weights}"
            elif stage.init_run is not None:
                init = f" --init {stage.init_run}"
            lines.append(
                f"python -m tfdeeplab.train {stage.name} --workdir {stage.run} "
                f"--set data.root={stage.shards}{init}"
            )
        final = self.final
        lines.append(
            f"python -m tfdeeplab.evaluate {final.name} --checkpoint {final.run} "
            f"--set data.root={final.shards} --json {final.run / 'eval.json'}"
        )
        return lines


def _convert_commands(stage: Stage, data: Path) -> list[str]:
    if stage.data_kind == "voc":
        return [
            "python -m tfrecords_tools.voc --voc-root "
            f"{data / 'voc2012' / 'VOCdevkit' / 'VOC2012'} --sbd-root "
            f"{data / 'sbd' / 'benchmark_RELEASE' / 'dataset'} --out {stage.shards}"
        ]
    if stage.data_kind == "coco_voc":
        coco = data / "coco2017"
        return [
            f"python -m tfrecords_tools.coco --annotations "
            f"{coco / 'annotations' / f'instances_{split}2017.json'} --images "
            f"{coco / f'{split}2017'} --split {split} --out {stage.shards}"
            for split in ("train", "val")
        ]
    root = data / "cityscapes"
    return [f"python -m tfrecords_tools.cityscapes --root {root} --out {stage.shards}"]


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
        runs: Path. Where the run directories go (`runs/<name>`).
        overrides: `key=value` strings on top of every stage's recipe.
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
    data, runs = Path(data).resolve(), Path(runs).resolve()
    importing = "import" in steps
    names = [published.pretrain, name] if published.pretrain else [name]
    stages = []
    for index, stage_name in enumerate(names):
        kind = PRETRAIN_DATA.get(stage_name)
        if kind is None:
            kind = load_recipe(stage_name, list(overrides)).data.dataset
        shards = data / "shards" / kind
        first = index == 0
        weights = data / "weights" / f"{published.init_artifact}.npz"
        weights = weights if first and importing else None
        init_run = stages[-1].run if stages else None
        more = [f"data.root={shards}"]
        if weights is not None or init_run is not None:
            more.append(f"train.init_weights={weights or init_run}")
        stages.append(
            Stage(
                name=stage_name,
                data_kind=kind,
                overrides=(*overrides, *more),
                shards=shards,
                run=runs / stage_name,
                weights=weights,
                init_run=init_run,
                evaluated=stage_name == name,
            )
        )
    if PRETRAIN_DATA.get(name) is None:
        stages[-1].recipe()  # the overrides' errors now, before any work
    return ReproductionPlan(
        published=published,
        stages=tuple(stages),
        steps=tuple(step for step in STEPS if step in steps),
    )


def done_steps(plan: ReproductionPlan, data: Path, registry: dict) -> dict:
    """Which step of which stage a run would reuse: {"stage step": bool}."""
    done = {}
    for stage in plan.stages:
        step = _finished_step(stage.run)
        checks = {
            "fetch": lambda s=stage: all(
                is_fetched(registry[name], data) for name in s.artifacts
            ),
            "convert": lambda s=stage: _converted(s.shards, _splits(s)),
            "import": lambda s=stage: s.weights is not None and s.weights.is_file(),
            "train": lambda s=stage, step=step: (
                step is not None and step >= _total_steps(s)
            ),
            "evaluate": lambda s=stage, step=step: (
                not s.evaluated or _evaluated(s.run, step)
            ),
        }
        for name in applicable_steps(plan, stage):
            done[f"{stage.name} {name}"] = bool(checks[name]())
    return done


def applicable_steps(plan: ReproductionPlan, stage: Stage) -> list[str]:
    """The plan's steps that apply to `stage`: no import for a stage that starts
    from an earlier one's run, no evaluation of a pre-training stage."""
    return [
        step
        for step in plan.steps
        if not (step == "import" and stage.weights is None)
        and not (step == "evaluate" and not stage.evaluated)
    ]


def _splits(stage: Stage) -> tuple[str, ...]:
    return ("train", "val") if stage.data_kind == "coco_voc" else _recipe_splits(stage)


def _recipe_splits(stage: Stage) -> tuple[str, ...]:
    recipe = stage.recipe()
    return (recipe.data.train_split, recipe.data.eval_split)


def _total_steps(stage: Stage) -> int:
    from tfdeeplab.training.builder import total_steps

    if not _converted(stage.shards, _splits(stage)):
        return 1 << 62  # a from_shards recipe cannot load before its shards
    recipe = stage.recipe()
    return total_steps(
        recipe.train, recipe.data.num_train_images, recipe.train.replicas
    )


def dry_run_lines(plan: ReproductionPlan, data: Path, registry: dict) -> list[str]:
    """The plan as text: each stage's steps and whether each is done, the
    downloads and disk they need, and the commands a user can run by hand."""
    from tfdeeplab.fetch.plan import plan_lines

    lines = [f"{plan.final.name} -> {plan.run}"]
    lines += [
        f"  {step}: {'done, reused' if done else 'to do'}"
        for step, done in done_steps(plan, data, registry).items()
    ]
    artifacts = [name for stage in plan.stages for name in stage.artifacts]
    if any(stage.weights is not None for stage in plan.stages):
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
    """Run every stage's steps, reusing what is done; write the reproduction files.

    Args:
        plan: ReproductionPlan (`plan_reproduction`).
        data: Path. DATA.
        fetch_options: dict or None. The loaded `registry` and `fetch_artifact`'s
            `mirror` and `from_dir`.
        progress: bool. Show progress.
        log: function taking one line of text.

    Returns:
        The reproduction record written to `reproduction.json`.

    Example:
        >>> record = reproduce(plan_reproduction("voc", Path("data"), Path("runs")),
        ...                    Path("data"))
    """
    data = Path(data).resolve()
    options = dict(fetch_options or {})
    registry = options.pop("registry", None) or load_registry()
    context = _Context(data, registry, options, progress, log)
    entries = {}
    speed = _earlier_speed(plan.run)
    for stage in plan.stages:
        for step in applicable_steps(plan, stage):
            start = time.perf_counter()
            reused = _STEP_FUNCTIONS[step](stage, plan.published, context)
            seconds = round(time.perf_counter() - start, 3)
            key = step if len(plan.stages) == 1 else f"{stage.name} {step}"
            entries[key] = {"seconds": seconds, "reused": reused}
            state = "reused" if reused else f"done in {seconds:.1f} s"
            log(f"reproduce {stage.name}: {step} {state}")
        if stage.evaluated and context.speed is not None:
            speed = context.speed
    record = reproduction_record(
        plan.final.name, plan.published, plan.run, entries, speed
    )
    plan.run.mkdir(parents=True, exist_ok=True)
    write_json(plan.run / RESULT_JSON, record)
    write_text(plan.run / RESULT_MARKDOWN, reproduction_markdown(record))
    log(f"reproduction: {plan.run / RESULT_MARKDOWN}")
    return record


@dataclasses.dataclass
class _Context:
    data: Path
    registry: dict
    options: dict
    progress: bool
    log: Callable[[str], None]
    speed: float | None = None


def _fetch(stage: Stage, published, context: _Context) -> bool:
    results = [
        fetch_artifact(
            context.registry[name],
            context.data,
            progress=context.progress,
            log=context.log,
            **context.options,
        )
        for name in stage.artifacts
    ]
    return all(result.reused for result in results)


def _convert(stage: Stage, published, context: _Context) -> bool:
    from tfrecords_tools.conversion import ConversionError, ConversionOptions

    splits = _splits(stage)
    if _converted(stage.shards, splits):
        return True
    options = ConversionOptions(progress=context.progress)
    reports = _CONVERTERS[stage.data_kind](stage, context, splits, options)
    refused = [report for report in reports if not report.written]
    if refused:
        raise ConversionError(
            f"{stage.shards}: the converter refused the {refused[0].split} split "
            f"({refused[0].problems[0]})"
        )
    return False


def _convert_voc(stage, context, splits, options):
    from tfrecords_tools.voc import convert_voc

    return convert_voc(
        artifact_root(context.registry["voc2012"], context.data),
        stage.shards,
        sbd_root=artifact_root(context.registry["sbd"], context.data),
        splits=splits,
        options=options,
        log=context.log,
    )


def _convert_cityscapes(stage, context, splits, options):
    from tfrecords_tools.cityscapes import convert_cityscapes

    return convert_cityscapes(
        artifact_root(context.registry["cityscapes"], context.data),
        stage.shards,
        splits=splits,
        options=options,
        log=context.log,
    )


def _convert_coco(stage, context, splits, options):
    from tfrecords_tools.coco import convert_coco

    coco = artifact_root(context.registry["coco2017"], context.data)
    reports = []
    for split in splits:
        reports += convert_coco(
            coco / "annotations" / f"instances_{split}2017.json",
            coco / f"{split}2017",
            stage.shards,
            split=split,
            options=options,
            log=context.log,
        )
    return reports


_CONVERTERS = {
    "voc": _convert_voc,
    "cityscapes": _convert_cityscapes,
    "coco_voc": _convert_coco,
}


def _converted(shards: Path, splits) -> bool:
    try:
        manifest = json.loads((shards / shard_format.MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    held = manifest.get(shard_format.SPLITS, {})
    return all(split in held for split in splits)


def _import(stage: Stage, published: PublishedResult, context: _Context) -> bool:
    from tfdeeplab.experiment.weights_job import import_weights

    if stage.weights is None or stage.weights.is_file():
        return True
    artifact = context.registry[published.init_artifact]
    fetch_artifact(
        artifact,
        context.data,
        progress=context.progress,
        log=context.log,
        **context.options,
    )
    source = artifact_root(artifact, context.data) / published.init_file
    stage.weights.parent.mkdir(parents=True, exist_ok=True)
    recipe = stage.recipe()
    recipe = dataclasses.replace(
        recipe, train=dataclasses.replace(recipe.train, init_weights="")
    )
    import_weights(recipe, published.init_format, source, stage.weights)
    return False


def _train(stage: Stage, published, context: _Context) -> bool:
    from tfdeeplab.experiment.train_job import train

    summary = train(
        stage.recipe(), stage.run, progress=context.progress, log=context.log
    )
    if summary.end_step == summary.start_step:
        return True  # the run was at its last step already
    if stage.evaluated:
        context.speed = round(summary.images_per_second, 3)
    return False


def _evaluate(stage: Stage, published, context: _Context) -> bool:
    from tfdeeplab.experiment.evaluate_job import evaluate

    if not stage.evaluated or _evaluated(stage.run, _finished_step(stage.run)):
        return True
    evaluate(
        stage.recipe(),
        checkpoint=stage.run,
        json_path=stage.run / "eval.json",
        progress=context.progress,
        log=context.log,
    )
    return False


_STEP_FUNCTIONS = {
    "fetch": _fetch,
    "convert": _convert,
    "import": _import,
    "train": _train,
    "evaluate": _evaluate,
}


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
