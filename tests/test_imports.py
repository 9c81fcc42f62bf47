"""Imports run one way, and what must load without TensorFlow does."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# On top of the library, allowed to use the converters: the demo job converts its
# data as a user would, the benchmarks time the converters.
APPS = {
    "tfdeeplab/experiment/demo_job.py",
    "tfdeeplab/experiment/reproduce_job.py",  # converts as a user would, too
    "tfdeeplab/bench",
}
PACKAGES = ("tfdeeplab", "tfrecords_tools")


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
        "tfdeeplab/models/builder.py",
        "tfdeeplab/data/builder.py",
        "tfdeeplab/evaluation/builder.py",
        "tfdeeplab/export/builder.py",
        "tfdeeplab/comparison/builder.py",
        "tfdeeplab/training/builder.py",
        # The jobs at the top of the library: each takes a recipe.
        "tfdeeplab/experiment/compare_job.py",
        "tfdeeplab/experiment/describe_job.py",
        "tfdeeplab/experiment/evaluate_job.py",
        "tfdeeplab/experiment/experiment.py",
        "tfdeeplab/experiment/export_job.py",
        "tfdeeplab/experiment/file_export_job.py",
        "tfdeeplab/experiment/predict_job.py",
        "tfdeeplab/experiment/train_job.py",
        "tfdeeplab/experiment/weights_job.py",
        "tfdeeplab/experiment/reproduce_job.py",
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
        "tfdeeplab.evaluation.crf_pool",  # imported by the CRF workers
        "tfdeeplab.shard_format",
        "tfdeeplab.state_files",
        "tfdeeplab.weights.formats",  # the weights command's --format choices
        "tfdeeplab.run_directory",
        "tfrecords_tools.conversion",  # imported by the converters' workers
        "tfdeeplab.__main__",  # `tfdeeplab --version` and the command list
        "tfdeeplab.version",
        "tfdeeplab.progress_display",
        "tfdeeplab.ops.op_cache",  # TensorFlow once a command has started it quietly
        "tfdeeplab.ops.build",
        "tfdeeplab.fetch.__main__",  # downloads need no TensorFlow
        "tfdeeplab.fetch.plan",
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
        "tfdeeplab.shard_format",
        # The code's version, in a resolved recipe's header (git, no TensorFlow).
        "tfdeeplab.version",
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: the project's modules it imports}, from every file's imports,
    those inside functions too; `from package import name` is the submodule
    `package.name` where there is one, else the package's `__init__`."""
    files = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    prefix = package.rsplit(".", node.level - 1)[0]
                    base = f"{prefix}.{base}" if base else prefix
                for alias in node.names:
                    module = f"{base}.{alias.name}"
                    targets.add(module if module in files else base)
        graph[name] = {
            resolved
            for target in targets
            if target.split(".")[0] in PACKAGES
            and (resolved := resolve(target)) not in (None, name)
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_of_every_file_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_and_only_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    graph = import_graph()
    assert "tfdeeplab.experiment.train_job" in graph["tfdeeplab.experiment"]
    assert "tfdeeplab.shard_format" in graph["tfrecords_tools.conversion"]


def test_package_faces_import_only_their_own_package():
    """An `__init__.py` lists names of its own modules, by plain imports."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("__init__.py")):
            own = _module_name(path)
            for name in imported_modules(path):
                assert name.startswith(own + "."), (path, name)
            # A name that is also a submodule's would hide the submodule.
            modules = {child.stem for child in path.parent.glob("*.py")}
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    for alias in node.names:
                        bound = alias.asname or alias.name
                        hides = bound in modules and node.module != f"{own}.{bound}"
                        assert not hides, (path, bound)


def test_no_test_module_imports_another():
    """Shared test code lives in helper modules (`tests/helpers.py`), never in a
    module pytest collects."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith(
                "test_"
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
