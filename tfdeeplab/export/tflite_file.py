"""The `.tflite` format: a fixed-size network as a LiteRT (TFLite) flatbuffer.

`tflite_bytes(network, quantize, calibration)` converts `FixedSizeNetwork.segment`
with TensorFlow's own converter, builtin ops only (no TF Select: the file must run
where TensorFlow is not installed):

- `none`: float32 throughout;
- `float16`: weights stored in float16, computed in float32 (half the size);
- `int8`: weights and activations in int8, calibrated on a representative set of
  uint8 images (`calibration`); ops without an int8 kernel stay float32. The
  input stays uint8 and the outputs keep their types (int32 labels, float32
  probabilities).

A model whose graph needs an op that the builtins lack is refused in one line
naming the op (`FormatError`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf

from tfdeeplab.export.fixed_size import INPUT_NAME, FixedSizeNetwork, frozen_segment
from tfdeeplab.export.formats import QUANTIZATIONS
from tfdeeplab.export.model_file import FormatError

# A flatbuffer's file identifier, bytes 4-8 of every TFLite model.
MAGIC = b"TFL3"


def is_tflite_file(path) -> bool:
    """True for a file that starts as a TFLite flatbuffer does."""
    try:
        with open(path, "rb") as handle:
            return handle.read(8)[4:8] == MAGIC
    except OSError:
        return False


def tflite_bytes(
    network: FixedSizeNetwork,
    quantize: str = "none",
    calibration: Callable[[], Iterable[np.ndarray]] | None = None,
) -> bytes:
    """The network as a TFLite flatbuffer.

    Args:
        network: FixedSizeNetwork.
        quantize: str. One of QUANTIZATIONS. Defaults to `none`.
        calibration: for `int8`, a function returning uint8 images [1, H, W, 3]
            at the network's size (the representative dataset).

    Raises:
        FormatError: an op TFLite's builtins lack, named; int8 without
            calibration images.

    Example:
        >>> data = tflite_bytes(FixedSizeNetwork(model, (321, 321), "bgr", mean))
    """
    if quantize not in QUANTIZATIONS:
        raise FormatError(
            f"`quantize`: expected one of {', '.join(QUANTIZATIONS)}, got {quantize!r}"
        )
    function, holder = frozen_segment(network)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], holder
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if calibration is None:
            raise FormatError("`quantize=int8`: needs calibration images")

        def representative():
            for image in calibration():
                yield {INPUT_NAME: np.asarray(image, np.uint8)}

        converter.representative_dataset = representative
    try:
        with warnings.catch_warnings():  # int8 calibration runs tf.lite's own
            warnings.simplefilter("ignore", UserWarning)  # deprecated interpreter
            return converter.convert()
    except Exception as error:  # ConverterError: an MLIR dump, many lines
        raise FormatError(f"tflite: {_first_problem(str(error))}") from None


def _first_problem(message: str) -> str:
    """The one line of a converter error a user needs."""
    unsupported = re.search(
        r"'(tf\.\w+)' op is neither a custom op nor a flex op", message
    )
    if unsupported:
        return (
            f"the model needs {unsupported.group(1)}, which TFLite's builtin ops "
            "do not have (no TF Select: the file must run without TensorFlow)"
        )
    lines = [line.strip() for line in message.splitlines() if "error" in line]
    return (lines[0] if lines else message.strip().splitlines()[0])[:300]
