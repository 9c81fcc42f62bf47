"""Imports run one way, and what must load without TensorFlow does."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# Command-line apps on top of the library, allowed to use the converters.
APPS = {"tfdeeplab/demo.py", "tfdeeplab/bench"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_library_never_imports_the_converters():
    offenders = []
    for path in sorted((ROOT / "tfdeeplab").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if any(relative == app or relative.startswith(app + "/") for app in APPS):
            continue
        if any(
            name.split(".")[0] == "tfrecords_tools" for name in imported_modules(path)
        ):
            offenders.append(relative)
    assert offenders == []


CONFIG_TYPES = {
    "Recipe",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "ScheduleConfig",
    "CrfConfig",
}


def test_only_builders_read_recipe_objects():
    """Config stops at the builders: below them nothing knows a config class."""
    readers = set()
    for path in sorted((ROOT / "tfdeeplab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module in ("tfdeeplab.config", "tfdeeplab.config.schema")
                and CONFIG_TYPES & {alias.name for alias in node.names}
            ):
                readers.add(path.relative_to(ROOT).as_posix())
    assert readers == {
        "tfdeeplab/config/__init__.py",
        "tfdeeplab/config/loader.py",
        "tfdeeplab/config/cli.py",  # load_recipe_or_report, kept by its earlier name
        "tfdeeplab/models/builder.py",
        "tfdeeplab/data/builder.py",
        "tfdeeplab/evaluation/builder.py",
        "tfdeeplab/export/builder.py",
        "tfdeeplab/comparison/builder.py",
        "tfdeeplab/training/builder.py",
        # The jobs at the top of the library: each takes a recipe.
        "tfdeeplab/experiment/describe_job.py",
        "tfdeeplab/experiment/evaluate_job.py",
        "tfdeeplab/experiment/export_job.py",
        "tfdeeplab/experiment/file_export_job.py",
        "tfdeeplab/experiment/predict_job.py",
        "tfdeeplab/experiment/train_job.py",
        "tfdeeplab/experiment/weights_job.py",
        "tfdeeplab/comparison/runs.py",  # trains and evaluates each compared recipe
        "tfdeeplab/demo.py",  # an app: the demo's recipe
        "tfdeeplab/training/resume.py",  # compares recipes: that is its job
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        "tfdeeplab.config",  # recipes are checked before TensorFlow loads
        "tfdeeplab.catalog.datasets",
        "tfdeeplab.catalog.choices",
        "tfdeeplab.cli",  # commands check their arguments before TensorFlow loads
        "tfdeeplab.errors",
        "tfdeeplab.atomic_files",
        "tfdeeplab.data.datasets",
        "tfdeeplab.evaluation.crf_pool",  # imported by the CRF workers
        "tfdeeplab.data.shard_format",
        "tfdeeplab.models.resnet_layout",
        "tfdeeplab.run_directory",
        "tfrecords_tools.conversion",  # imported by the converters' workers
    ],
)
def test_light_modules_load_without_tensorflow(module):
    code = (
        f"import sys, {module}; "
        "heavy = sorted({'tensorflow', 'keras'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


# The two functions that are the deformable convolution's maths, kept whole.
LONG_ON_PURPOSE = {
    "tfdeeplab/ops/deformable_conv/reference.py:deformable_conv2d_reference",
    "tfdeeplab/ops/deformable_conv/kernel.py:deformable_conv2d_custom_op",
}


def test_no_library_function_is_longer_than_80_lines():
    long = []
    for package in ("tfdeeplab", "tfrecords_tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                lines = node.end_lineno - node.lineno + 1
                name = f"{relative}:{node.name}"
                if lines > 80 and name not in LONG_ON_PURPOSE:
                    long.append(f"{name} ({lines} lines)")
    assert long == []


def test_the_recipe_schema_imports_no_package_that_reads_recipes():
    """config imports only the pure facts (catalog) and the shared helpers: no
    cycle config <-> data or config <-> models."""
    allowed = {
        "tfdeeplab.catalog",
        "tfdeeplab.errors",
        "tfdeeplab.atomic_files",
        "tfdeeplab.cli",
        # The shards' on-disk format (pure, no recipe objects, no TensorFlow): a
        # `from_shards` recipe takes its dataset from the manifest.
        "tfdeeplab.data.shard_format",
    }
    for path in sorted((ROOT / "tfdeeplab" / "config").rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("tfdeeplab.") and not name.startswith(
                "tfdeeplab.config"
            ):
                assert any(name.startswith(prefix) for prefix in allowed), (path, name)
    for path in sorted((ROOT / "tfdeeplab" / "catalog").rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("tfdeeplab."):
                assert name.startswith(("tfdeeplab.catalog", "tfdeeplab.errors")), (
                    path,
                    name,
                )
