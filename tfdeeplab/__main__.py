"""`tfdeeplab COMMAND ...` (or `python -m tfdeeplab COMMAND ...`): every command line.

Each command is the same call as its `python -m` form, with the same arguments:
`tfdeeplab train voc_scale16` is `python -m tfdeeplab.train voc_scale16`. With
`--version`, prints the package version and, in a clone, the commit.
"""

from __future__ import annotations

import importlib
import sys

# Command -> (module whose `main(argv)` runs it, what it does).
COMMANDS = {
    "train": ("tfdeeplab.train", "train a recipe in a run directory"),
    "evaluate": ("tfdeeplab.evaluate", "mIoU of a checkpoint by the recipe's protocol"),
    "predict": ("tfdeeplab.predict", "label maps for image files"),
    "export": ("tfdeeplab.export.__main__", "SavedModel, TFLite or ONNX"),
    "weights": ("tfdeeplab.weights.__main__", "import published weights (.npz)"),
    "describe": ("tfdeeplab.describe", "build a recipe's model; --list the recipes"),
    "compare": ("tfdeeplab.compare", "compare recipes' schedules, or train each"),
    "demo": ("tfdeeplab.demo", "the whole path on built-in data"),
    "bench": ("tfdeeplab.bench.__main__", "benchmarks against a peer"),
    "fetch": ("tfdeeplab.fetch.__main__", "download and check datasets and weights"),
    "reproduce": ("tfdeeplab.reproduce", "a row of the seed's table, from nothing"),
    "build-ops": ("tfdeeplab.ops.build", "compile the deformable convolution op"),
    "convert-voc": ("tfrecords_tools.voc", "VOC 2012 (+SBD) -> TFRecord shards"),
    "convert-cityscapes": ("tfrecords_tools.cityscapes", "Cityscapes -> shards"),
    "convert-coco": ("tfrecords_tools.coco", "COCO JSON -> shards"),
    "convert-folder": ("tfrecords_tools.folder", "your images and masks -> shards"),
}
USAGE_EXIT = 2


def usage() -> str:
    """The help text: the commands and what each does."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: tfdeeplab COMMAND [ARGUMENTS ...]   (tfdeeplab COMMAND --help)",
        "       tfdeeplab --version",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command, as `python -m MODULE ARGUMENTS` would.

    Args:
        argv: list of str or None. The command and its arguments; None reads
            `sys.argv`.

    Returns:
        int, the command's exit code; 2 for no or an unknown command.

    Example:
        >>> main(["describe", "--list"])
        0
    """
    words = sys.argv[1:] if argv is None else list(argv)
    if not words or words[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if words else sys.stderr)
        return 0 if words else USAGE_EXIT
    if words[0] == "--version":
        from tfdeeplab.version import version_line

        print(version_line())
        return 0
    if words[0] not in COMMANDS:
        print(
            f"error: tfdeeplab: unknown command {words[0]!r}; one of "
            f"{', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return USAGE_EXIT
    module = importlib.import_module(COMMANDS[words[0]][0])
    return module.main(words[1:])


if __name__ == "__main__":
    sys.exit(main())
