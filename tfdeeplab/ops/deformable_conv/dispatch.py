"""`deformable_conv2d`: our C++ and CUDA kernels where they can run, else the reference.

`implementation="auto"` takes the custom op
- on a CPU (no GPU visible) for float32 and float64, when its kernels are built;
- on a GPU for float16, bfloat16, float32 and float64, when its CUDA kernels compile
  and pass the guard's check for that dtype (`gpu_guard`: once per process, against
  the reference; a failure warns once and keeps the reference);
and the pure-TensorFlow reference otherwise, and always under XLA (the op has no XLA
kernel), which is also what a SavedModel export holds, so the exported model loads
without tfdeeplab's library.
"""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.ops.deformable_conv.kernel import (
    deformable_conv2d_custom_op,
    deformable_conv_available,
)
from tfdeeplab.ops.deformable_conv.reference import deformable_conv2d_reference

IMPLEMENTATIONS = ("auto", "custom_op", "reference")
CPU_KERNEL_DTYPES = (tf.float32, tf.float64)
GPU_KERNEL_DTYPES = (tf.float16, tf.bfloat16, tf.float32, tf.float64)


def _compiled_by_xla() -> bool:
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow moved it
        return False
    graph = tf.compat.v1.get_default_graph()
    return bool(control_flow_util.GraphOrParentsInXlaContext(graph))


def _gpu_visible() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


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


def resolve_implementation(implementation: str, dtype: tf.DType, guard=None) -> str:
    """`custom_op` or `reference` for a call now, with `auto` decided as above.

    Args:
        implementation: str. One of IMPLEMENTATIONS.
        dtype: the inputs' dtype.
        guard: what decides for a GPU (`usable(dtype) -> bool`); defaults to the
            process's `gpu_guard.process_guard()`.

    Raises:
        ValueError: an unknown implementation name.

    Example:
        >>> resolve_implementation("auto", tf.float32)  # on a CPU with g++
        'custom_op'
    """
    if check_implementation(implementation) != "auto":
        return implementation
    dtype = tf.as_dtype(dtype)
    if _compiled_by_xla():
        return "reference"
    if _gpu_visible():
        if dtype not in GPU_KERNEL_DTYPES:
            return "reference"
        if guard is None:
            from tfdeeplab.ops.deformable_conv.gpu_guard import process_guard

            guard = process_guard()
        return "custom_op" if guard.usable(dtype) else "reference"
    usable = dtype in CPU_KERNEL_DTYPES and deformable_conv_available()
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
        implementation: str. `auto`, `custom_op` (our C++/CUDA kernels; raises
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
