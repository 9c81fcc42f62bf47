"""The wheel is the whole project: it carries what the code opens, declares what the
code imports, and installed away from the clone it builds its ops, then describes,
trains, evaluates, exports and predicts with a recipe given by name.

The installed environment reuses this one's packages (a `.pth` line naming this
environment's site-packages, so nothing is downloaded) with the wheel installed
`--no-deps` on top; a fresh op cache makes the ops compile from the wheel's sources.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("tfdeeplab", "tfrecords_tools")
# The clone's own state and outputs at its top, not copied to build the wheel from.
NOT_SOURCES = {".git", ".venv", "build", "dist", "runs", "data", ".pytest_cache"}
# Imported only inside a function that says how to install it when it is missing.
OPTIONAL_IMPORTS = {"torch": "tfdeeplab/weights/torch_state.py (--format torch)"}
SOURCE_SUFFIXES = (".py", ".cc", ".h", ".cu", ".yaml")

pytestmark = pytest.mark.slow


def _ignore(directory, names):
    top = Path(directory) == ROOT
    return [
        name
        for name in names
        if (top and name in NOT_SOURCES)
        or name == "__pycache__"
        or name.endswith((".egg-info", ".pyc"))
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (the clone stays untouched)."""
    scratch = tmp_path_factory.mktemp("wheel")
    source = scratch / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(scratch / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (path,) = (scratch / "dist").glob("tfdeeplab-*.whl")
    return path


def _wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name).decode()


def _code_opens() -> set[str]:
    """Every file the code opens at run time, found the way the code finds them."""
    from tfdeeplab.config.shipped_recipes import SHIPPED_RECIPES
    from tfdeeplab.fetch.registry import SHIPPED_REGISTRY
    from tfdeeplab.ops import op_cache

    opened = set()
    for name in op_cache.project_ops():
        sources = op_cache.op_sources(name)
        cuda = op_cache.cuda_sources(name)
        assert sources, name
        opened |= {*sources, *op_cache._headers_beside(sources), *cuda}
        for source in [*sources, *cuda]:  # what they include from beside them
            for included in re.findall(r'#include "([^"]+)"', source.read_text()):
                if (source.parent / included).is_file():
                    opened.add(source.parent / included)
    opened |= set(SHIPPED_RECIPES.glob("*.yaml")) | {SHIPPED_REGISTRY}
    return {path.resolve().relative_to(ROOT).as_posix() for path in opened}


def test_the_wheel_carries_every_source_and_what_the_code_opens(wheel):
    files = _wheel_files(wheel)
    in_tree = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file()
        and path.suffix in SOURCE_SUFFIXES
        and "__pycache__" not in path.parts
    }
    assert in_tree - files == set()
    opened = _code_opens()
    assert {
        "tfdeeplab/ops/deformable_conv/deformable_conv_geometry.h",
        "tfdeeplab/ops/deformable_conv/deformable_conv_kernels.cu",
        "tfdeeplab/recipes/voc_scale16.yaml",
        "tfdeeplab/fetch/registry.yaml",
    } <= opened
    assert opened - files == set()
    assert {name.split("/")[0] for name in files} == set(PACKAGES)  # no tests, tools


def test_the_wheel_declares_what_the_code_imports(wheel):
    """Requires-Dist: each imported distribution is a requirement (runtime or an
    extra), and each runtime requirement is imported somewhere."""
    text = _metadata(wheel)
    runtime, extras = set(), set()
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        name = _normal(re.match(r"[A-Za-z0-9._-]+", line).group())
        (extras if "extra ==" in line else runtime).add(name)
    distributions = metadata.packages_distributions()
    imported = {}
    for module in sorted(_imported_modules() - set(OPTIONAL_IMPORTS)):
        assert module in distributions, f"{module}: imported, but no package gives it"
        imported[module] = {_normal(name) for name in distributions[module]}
    undeclared = {
        module: names
        for module, names in imported.items()
        if not names & (runtime | extras)
    }
    assert undeclared == {}
    used = set().union(*imported.values())
    assert runtime - used == set()
    assert {"pycocotools", "tensorflow", "keras", "pyyaml"} <= runtime
    assert {"tf2onnx", "onnxruntime", "tf-models-official"} <= extras
    assert "Provides-Extra: export" in text and "Provides-Extra: dev" in text
    assert not (ROOT / "requirements.txt").exists()  # one list: pyproject.toml


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> set[str]:
    """Top-level modules the packages import, not the standard library's or ours."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(PACKAGES)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(run, work folder): the wheel in a fresh environment over this one's packages,
    and a function running a command there, away from the clone."""
    home = tmp_path_factory.mktemp("installed")
    environment = home / "env"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(environment)
    python = environment / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "test_environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    work = home / "work"
    work.mkdir()
    variables = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "TF_CPP", "PYTEST", "COV_"))
    }
    variables.update(
        PATH=f"{environment / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        TFDEEPLAB_OP_CACHE=str(home / "op_cache"),
    )

    def run(*words, timeout=600):
        finished = subprocess.run(
            [str(word) for word in words],
            capture_output=True,
            text=True,
            cwd=work,
            env=variables,
            timeout=timeout,
        )
        assert finished.returncode == 0, (words, finished.stdout, finished.stderr)
        return finished

    return run, work


# The same small model and data for every command of the installed path.
SMALL = [
    "data.crop_size=[33, 33]",
    "data.shuffle_buffer=8",
    "data.num_train_images=9",
    "train.batch_size=2",
    "train.max_steps=2",
    "train.checkpoint_every=2",
    "train.log_every=1",
    "train.validation_images=2",
    "train.image_panels=2",
    "eval.scales=[1.0]",
]
TF_NOTICES = re.compile(r"cpu_feature_guard|oneDNN custom operations|cuInit")


def test_installed_it_builds_its_ops_describes_trains_evaluates_exports_predicts(
    installed, tmp_path
):
    run, work = installed
    where = run("python", "-c", "import tfdeeplab; print(tfdeeplab.__file__)")
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)
    version = run("tfdeeplab", "--version").stdout.strip()
    assert re.fullmatch(r"tfdeeplab \d+\.\d+\.\d+\S*", version)  # no clone: no commit

    built = run("tfdeeplab", "build-ops").stdout
    assert re.search(r"^deformable_conv: .*op_cache.*\.so$", built, re.M), built
    assert re.search(r"^crop_resample: .*\.so$", built, re.M), built
    listed = run("python", "-m", "tfdeeplab.describe", "--list").stdout
    assert "voc_scale16\n    deeplabv2.pascal.4gpu.scale16" in listed
    described = run(
        "tfdeeplab", "describe", "voc_scale16", "--set", "data.crop_size=[65, 65]"
    )
    assert "65x65x3 -> 65x65x21" in described.stdout
    assert described.stderr == ""  # no TensorFlow notices before (or after) ours

    from tfdeeplab.synthetic_datasets import write_folder_tree

    images, masks, _ = write_folder_tree(tmp_path, [f"{i:04d}" for i in range(12)])
    (tmp_path / "classes.txt").write_text("background\nred\ngreen\nolive\nnavy\n")
    run(
        "tfdeeplab", "convert-folder", "--images", images, "--masks", masks,
        "--out", "shards", "--classes", tmp_path / "classes.txt",
        "--val-fraction", "0.25", "--workers", "1",
    )  # fmt: skip
    overrides = ["--set", "data.root=shards", *SMALL]
    trained = run("python", "-m", "tfdeeplab.train", "custom_small", "--workdir",
                  "run", *overrides)  # fmt: skip
    assert "\r" not in trained.stderr  # a log file gets lines, not bar redraws
    assert not TF_NOTICES.search(trained.stdout + trained.stderr)
    assert f"{version}: training custom_small in run" in trained.stdout
    resolved = (work / "run" / "recipe.yaml").read_text()
    assert resolved.startswith(
        f"# The resolved recipe custom_small, written by {version}."
    )
    evaluated = run("tfdeeplab", "evaluate", "custom_small", "--checkpoint", "run",
                    "--json", "eval.json", *overrides)  # fmt: skip
    assert "mIoU" in evaluated.stdout and "\r" not in evaluated.stderr
    run("tfdeeplab", "export", "custom_small", "--checkpoint", "run", "--out",
        "exported", *overrides)  # fmt: skip
    run("tfdeeplab", "predict", next(images.iterdir()), "--saved-model", "exported",
        "--out", "predictions")  # fmt: skip
    assert len(list((work / "predictions").glob("*.png"))) >= 1
