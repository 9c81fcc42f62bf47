"""`deformable_conv2d`: the C++ kernels where they can run, the reference elsewhere.

`implementation="auto"` takes the custom op when its kernels are built, the dtype is
float32 or float64, no GPU is visible and the call is not being compiled by XLA;
otherwise the pure-TensorFlow reference, which runs on GPUs (under XLA it is the GPU
path) and is what a SavedModel export holds, so the exported model loads without
tfdeeplab's library.
"""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.ops.deformable_conv.kernel import (
    deformable_conv2d_custom_op,
    deformable_conv_available,
)
from tfdeeplab.ops.deformable_conv.reference import deformable_conv2d_reference

IMPLEMENTATIONS = ("auto", "custom_op", "reference")


def _compiled_by_xla() -> bool:
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow moved it
        return False
    graph = tf.compat.v1.get_default_graph()
    return bool(control_flow_util.GraphOrParentsInXlaContext(graph))


def check_implementation(implementation: str) -> str:
    """`implementation` itself if it is a known name.

    Raises:
        ValueError: one line listing the known names.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, got "
            f"{implementation!r}"
        )
    return implementation


def resolve_implementation(implementation: str, dtype: tf.DType) -> str:
    """`custom_op` or `reference` for a call now, with `auto` decided as above.

    Raises:
        ValueError: an unknown implementation name.

    Example:
        >>> resolve_implementation("auto", tf.float32)  # on a CPU with g++
        'custom_op'
    """
    if check_implementation(implementation) != "auto":
        return implementation
    usable = (
        tf.as_dtype(dtype) in (tf.float32, tf.float64)
        and not tf.config.list_logical_devices("GPU")
        and not _compiled_by_xla()
        and deformable_conv_available()
    )
    return "custom_op" if usable else "reference"


def deformable_conv2d(
    inputs: tf.Tensor,
    offsets: tf.Tensor,
    kernel: tf.Tensor,
    *,
    strides: int = 1,
    padding: int = 0,
    dilation: int = 1,
    deformable_groups: int = 1,
    mask: tf.Tensor | None = None,
    implementation: str = "auto",
) -> tf.Tensor:
    """Deformable 2-D convolution, NHWC, no bias (semantics: `reference.py`).

    Args:
        inputs: [N, H, W, C] tensor.
        offsets: [N, Ho, Wo, 2 * G * kh * kw] tensor of (dy, dx) per group and tap.
        kernel: [kh, kw, C, O] tensor (the Keras Conv2D layout).
        strides: int. Defaults to 1.
        padding: int. Implicit zero padding of both axes. Defaults to 0.
        dilation: int. Defaults to 1.
        deformable_groups: int. Defaults to 1.
        mask: optional [N, Ho, Wo, G * kh * kw] modulation (DCN v2).
        implementation: str. `auto`, `custom_op` (the C++ kernels; raises
            OpBuildError where they cannot be built) or `reference`. Defaults to
            `auto`.

    Returns:
        [N, Ho, Wo, O] tensor in the dtype of `inputs`.

    Example:
        >>> y = deformable_conv2d(x, offsets, w, padding=2, dilation=2)
        >>> y_ref = deformable_conv2d(x, offsets, w, padding=2, dilation=2,
        ...                           implementation="reference")
    """
    chosen = resolve_implementation(implementation, inputs.dtype)
    convolve = (
        deformable_conv2d_custom_op
        if chosen == "custom_op"
        else deformable_conv2d_reference
    )
    return convolve(
        inputs,
        offsets,
        kernel,
        strides=strides,
        padding=padding,
        dilation=dilation,
        deformable_groups=deformable_groups,
        mask=mask,
    )
