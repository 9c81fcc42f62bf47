"""`python -m tfdeeplab.weights import|inspect ...`: published weights for `--init`.

    python -m tfdeeplab.weights import --format mxnet \
        --source resnet_v1_101-0000.params \
        --recipe recipes/voc.yaml --out weights/resnet101_imagenet.npz
    python -m tfdeeplab.weights inspect resnet_v1_101-0000.params

`import` maps every tensor of the file onto the recipe's model (report: mapped to
which variable, unused, or missing), folds what the formats differ in, and writes a
`.npz` that `--init` loads; a shape mismatch, a missing backbone tensor or a depth
that does not match is one line and nothing is written. `inspect` lists a file's
tensors and shapes (format from the extension: .params, .caffemodel, .h5, .pth).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tfdeeplab.config.cli import (
    OneLineArgumentParser,
    add_override_argument,
    load_recipe_or_report,
)

EXTENSIONS = {
    ".params": "mxnet",
    ".caffemodel": "caffe",
    ".h5": "keras",
    ".pth": "torch",
    ".pt": "torch",
}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.weights", description=__doc__.split("\n\n")[2]
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineArgumentParser
    )
    importing = commands.add_parser("import", help="a published file -> .npz")
    importing.add_argument(
        "--format", required=True, choices=("keras", "mxnet", "caffe", "torch")
    )
    importing.add_argument("--source", type=Path, required=True, help="the file")
    importing.add_argument("--recipe", required=True, help="the model's recipe")
    importing.add_argument("--out", type=Path, required=True, help="a .npz to write")
    add_override_argument(importing, "model.depth=50")
    inspecting = commands.add_parser("inspect", help="list a file's tensors")
    inspecting.add_argument("file", type=Path)
    inspecting.add_argument("--format", choices=("keras", "mxnet", "caffe", "torch"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from tfdeeplab.weights.importer import WeightsImportError
    from tfdeeplab.weights.mxnet_params import WeightsFormatError
    from tfdeeplab.weights.torch_state import TorchUnavailableError

    problems = (WeightsImportError, WeightsFormatError, TorchUnavailableError)
    try:
        if args.command == "inspect":
            return _inspect(args)
        return _import(args, parser)
    except problems as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _check_source(path: Path) -> None:
    from tfdeeplab.weights.mxnet_params import WeightsFormatError

    if not path.is_file():
        raise WeightsFormatError(f"{path}: no such file (nothing is downloaded)")


def _inspect(args) -> int:
    from tfdeeplab.weights.importer import read_tensors
    from tfdeeplab.weights.mxnet_params import WeightsFormatError

    _check_source(args.file)
    fmt = args.format or EXTENSIONS.get(args.file.suffix)
    if fmt is None:
        raise WeightsFormatError(f"{args.file}: unknown extension; pass --format")
    tensors = read_tensors(fmt, args.file, units={})
    width = max(len(name) for name, _, _ in tensors)
    for name, shape, _ in tensors:
        print(f"{name.ljust(width)}  {shape}")
    print(f"{len(tensors)} tensors ({fmt})")
    return 0


def _import(args, parser) -> int:
    if args.out.suffix != ".npz":
        parser.error(f"--out {args.out}: expected a .npz file (what --init loads)")
    _check_source(args.source)
    recipe = load_recipe_or_report(args.recipe, args.overrides)
    if recipe is None:
        return 2
    from tfdeeplab.catalog.resnet_layout import resnet_unit_names
    from tfdeeplab.models import build_model
    from tfdeeplab.weights.importer import plan_import, write_npz

    config = recipe.model
    model = build_model(config)
    units = resnet_unit_names(config.depth, config.units_per_stage or None)
    plan = plan_import(
        model, args.format, args.source, units=units, epsilon=config.batch_norm_epsilon
    )
    print(plan.report())
    write_npz(plan.values, args.out)
    print(f"wrote {args.out}: use it with --init {args.out} (or train.init_weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
