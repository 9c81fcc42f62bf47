"""The `.onnx` format: a fixed-size network as an ONNX model, through tf2onnx.

`onnx_bytes(network)` converts `FixedSizeNetwork.segment` at ONNX opset 17 (ONNX
Runtime 1.12 and later, TensorRT 8.6 and later read it). tf2onnx is needed for
this format only; without it the export is one line with the pip command.
Memory: tf2onnx holds many copies of the weights while it converts; ResNet-101 at
321x321 peaked at 17.4 GB (ResNet-50: 8.3 GB). Converting the TFLite file instead
(`tf2onnx.convert.from_tflite`) peaked at 10.1 GB, but its model ran 1.6x slower in
ONNX Runtime (the demo's model), so the direct conversion is kept.

The deformable convolution goes out as what it is in the graph: the reference's
gathers and arithmetic (`Gather`, `Floor`, `Where`, `MatMul`), so it keeps our
semantics exactly (the border rule, non-finite offsets) in every runtime. ONNX's
own `DeformConv` needs opset 19, only recent ONNX Runtime releases implement it,
and tf2onnx converts a TensorFlow graph op by op with no rule that turns a sampled
gather into one `DeformConv` node; so the gathers it is.
"""

from __future__ import annotations

from tfdeeplab.export.fixed_size import FixedSizeNetwork
from tfdeeplab.export.model_file import FormatError, require_package

OPSET = 17


def is_onnx_file(path) -> bool:
    """True for a file that parses as an ONNX model with a graph."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not protobuf, not ONNX, not readable
        return False
    return bool(model.graph.node)


def onnx_bytes(network: FixedSizeNetwork, opset: int = OPSET) -> bytes:
    """The network as a serialised ONNX model.

    Args:
        network: FixedSizeNetwork.
        opset: int. The ONNX opset. Defaults to 17.

    Raises:
        MissingPackageError: tf2onnx is not installed (the pip command named).
        FormatError: tf2onnx cannot convert an op of the model (named).

    Example:
        >>> data = onnx_bytes(FixedSizeNetwork(model, (321, 321), "bgr", mean))
    """
    require_package("tf2onnx", "--format onnx", "tf2onnx onnxruntime")
    import tf2onnx

    try:  # tf2onnx freezes the variables itself: one copy of the weights fewer
        proto, _ = tf2onnx.convert.from_function(
            network.segment, input_signature=[network.spec], opset=opset
        )
    except Exception as error:  # tf2onnx raises plain exceptions, many lines
        line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise FormatError(f"onnx: tf2onnx cannot convert the model: {line}") from None
    return proto.SerializeToString()
