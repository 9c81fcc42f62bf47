"""`python -m tfdeeplab.export RECIPE --checkpoint PATH --out DIR|FILE
[--format savedmodel|tflite|onnx] [--input-size H W] [--quantize none|float16|int8]
[--calibration-images N] [--check-images N] [--force] [--set k=v ...]`

`--format savedmodel` (the default) writes a SavedModel that TensorFlow Serving,
`saved_model_cli` and plain `tf.saved_model.load` use without tfdeeplab: the
recipe's normalisation and `eval` protocol (scales, sliding window, flip; no CRF)
are in the graph. Signatures
`serving_default` (uint8 images [N, H, W, 3]) and `serving_bytes` (encoded JPEG/PNG
strings [N]) both return `labels` [N, H, W] and `probabilities` [N, H, W, C]; the
assets hold the resolved recipe and `labels.json` (class names, palette).
`--format tflite` and `--format onnx` write one file of the network at a fixed
`--input-size` (default: the recipe's crop): uint8 RGB [1, H, W, 3] in, the channel
order and mean inside, `labels` and `probabilities` out at the input size; the
sliding window, scales and flip stay with the caller. TFLite can be quantized
(`float16`, or `int8` calibrated on the training split); after writing, the file is
run once in its own runtime (LiteRT, ONNX Runtime) in a process without tfdeeplab.
"""

from __future__ import annotations

import sys

from tfdeeplab.cli import (
    RECIPE_HELP,
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    non_negative_int,
    path_argument,
    positive_int,
    run_command,
    start_tensorflow,
)
from tfdeeplab.config import load_recipe
from tfdeeplab.errors import TfdeeplabError
from tfdeeplab.export.formats import FORMATS, QUANTIZATIONS


class OptionError(TfdeeplabError, ValueError):
    """An option the chosen format does not take."""


def _parser() -> OneLineArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.export", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("recipe", help=RECIPE_HELP)
    add_weights_arguments(parser)
    parser.add_argument(
        "--out",
        type=path_argument,
        required=True,
        help="SavedModel folder, or the .tflite / .onnx file",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="savedmodel",
        help="savedmodel (default: any size, the whole protocol), tflite or onnx "
        "(one tile at --input-size)",
    )
    parser.add_argument(
        "--input-size",
        type=positive_int,
        nargs=2,
        metavar=("H", "W"),
        help="tflite/onnx input height and width (default: the recipe's crop)",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="tflite only: float16 weights, or int8 calibrated on real images",
    )
    parser.add_argument(
        "--calibration-images",
        type=positive_int,
        metavar="N",
        help="int8: images of the training split to calibrate on (default 100)",
    )
    parser.add_argument(
        "--check-images",
        type=non_negative_int,
        default=16,
        metavar="N",
        help="quantized tflite: evaluation images compared with float32 (default 16)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a SavedModel (or a model file of the format) at --out",
    )
    add_override_argument(parser, "eval.scales=[1.0]")
    return parser


def _check_savedmodel_options(args) -> None:
    """Refuse the fixed-size formats' options with `--format savedmodel`."""
    given = [
        ("--input-size", args.input_size is not None),
        ("--quantize", args.quantize != "none"),
        ("--calibration-images", args.calibration_images is not None),
    ]
    for flag, used in given:
        if used:
            raise OptionError(
                f"{flag}: the savedmodel format takes images of any size and keeps "
                "float32; use --format tflite (or onnx for --input-size)"
            )


def _export(args) -> int:
    if args.format == "savedmodel":
        _check_savedmodel_options(args)
    recipe = load_recipe(args.recipe, args.overrides)
    start_tensorflow()
    if args.format != "savedmodel":
        from tfdeeplab.experiment import export_file

        result = export_file(
            recipe,
            args.out,
            file_format=args.format,
            checkpoint=args.checkpoint,
            weights=args.weights,
            input_size=args.input_size,
            quantize=args.quantize,
            calibration_images_count=args.calibration_images,
            check_images=args.check_images,
            force=args.force,
        )
        print(result.format())
        return 0
    from tfdeeplab.experiment import export

    result = export(
        recipe,
        args.out,
        checkpoint=args.checkpoint,
        weights=args.weights,
        force=args.force,
    )
    print(result.format())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(
        lambda: _export(args),
        flags={
            "file_format": "--format",
            "quantize": "--quantize",
            "calibration_images_count": "--calibration-images",
        },
    )


if __name__ == "__main__":
    sys.exit(main())
