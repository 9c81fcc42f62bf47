"""`python -m tfdeeplab.weights import|inspect ...`: published weights for `--init`.

    python -m tfdeeplab.weights import --format mxnet \
        --source resnet_v1_101-0000.params \
        --recipe recipes/voc.yaml --out weights/resnet101_imagenet.npz
    python -m tfdeeplab.weights inspect resnet_v1_101-0000.params

`import` maps every tensor of the file onto the recipe's model (report: mapped to
which variable, unused, or missing), folds what the formats differ in, and writes a
`.npz` that `--init` loads; a shape mismatch, a missing backbone tensor or a depth
that does not match is one line and nothing is written. An existing `--out` is
replaced only with `--force`. `inspect` lists a file's tensors and shapes (format
from the extension: .params, .caffemodel, .h5, .pth).
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    path_argument,
    run_command,
    start_tensorflow,
)
from tfdeeplab.weights.formats import FORMATS


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.weights", description=__doc__.split("\n\n")[2]
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=OneLineArgumentParser
    )
    importing = commands.add_parser("import", help="a published file -> .npz")
    importing.add_argument("--format", required=True, choices=list(FORMATS))
    importing.add_argument(
        "--source", type=path_argument, required=True, help="the file"
    )
    importing.add_argument(
        "--recipe", required=True, help=f"the model's recipe, {RECIPE_HELP}"
    )
    importing.add_argument(
        "--out", type=path_argument, required=True, help="a .npz to write"
    )
    importing.add_argument("--force", action="store_true", help="replace --out")
    add_override_argument(importing, "model.depth=50")
    inspecting = commands.add_parser("inspect", help="list a file's tensors")
    inspecting.add_argument("file", type=path_argument)
    inspecting.add_argument("--format", choices=list(FORMATS))
    return parser


def _inspect(args) -> int:
    start_tensorflow()
    from tfdeeplab.experiment import inspect_weights

    fmt, tensors = inspect_weights(args.file, args.format)
    width = max((len(name) for name, _ in tensors), default=0)
    for name, shape in tensors:
        print(f"{name.ljust(width)}  {shape}")
    print(f"{len(tensors)} tensors ({fmt})")
    return 0


def _import(args) -> int:
    from tfdeeplab.config import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    from tfdeeplab.experiment import import_weights

    plan = import_weights(recipe, args.format, args.source, args.out, force=args.force)
    print(plan.report())
    print(f"wrote {args.out}: use it with --init {args.out} (or train.init_weights)")
    return 0


COMMANDS = {"import": _import, "inspect": _inspect}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "import" and args.out.suffix != ".npz":
        parser.error(f"--out {args.out}: expected a .npz file (what --init loads)")
    return run_command(lambda: COMMANDS[args.command](args), flags={"fmt": "--format"})


if __name__ == "__main__":
    sys.exit(main())
