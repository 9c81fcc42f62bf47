"""Deformable convolution through the C++ im2col kernels and TensorFlow's matmul.

`deformable_conv2d_custom_op` has the reference's semantics (see `reference.py` and
`deformable_conv_op.cc`). The output pixels are processed in blocks whose sampled
columns take at most `block_bytes`: for each block the C++ kernel writes the columns
[pixels, kh * kw * C] and `tf.matmul` multiplies them with the kernel. The gradient
is registered with `tf.custom_gradient` and recomputes each block's columns instead
of keeping them, so neither pass holds more than one block of columns:

    grad_kernel  = sum over blocks of columns^T @ grad_out
    grad_columns = grad_out @ kernel^T, then the C++ gradient kernel turns it into
                   the gradients of the input, the offsets and the mask.

The C++ kernels are compiled on first use by `tfdeeplab.ops.build`: CPU kernels for
float32 and float64, and GPU kernels for those and float16 and bfloat16, whose CUDA
code (`deformable_conv_kernels.cu`) NVRTC compiles for the GPUs found (`gpu.py`).
The 16-bit types compute in float32 inside the kernels and sum the blocks'
gradients in float32 here; their GEMMs are TensorFlow's (cuBLAS accumulates in
float32).
"""

from __future__ import annotations

import tensorflow as tf

from tfdeeplab.ops.op_cache import load_op, op_available

OP_NAME = "deformable_conv"
BLOCK_BYTES = 64 * 1024 * 1024


def _over_blocks(pixels: tf.Tensor, block: int, step, initial):
    """Run `step(start, count, state)` for consecutive blocks of [0, pixels)."""
    block = tf.constant(block, tf.int64)

    def body(start, state):
        count = tf.minimum(block, pixels - start)
        return start + count, step(start, count, state)

    _, state = tf.while_loop(
        lambda start, _: start < pixels,
        body,
        (tf.constant(0, tf.int64), initial),
        parallel_iterations=1,
    )
    return state


def deformable_conv2d_custom_op(
    inputs: tf.Tensor,
    offsets: tf.Tensor,
    kernel: tf.Tensor,
    *,
    strides: int = 1,
    padding: int = 0,
    dilation: int = 1,
    deformable_groups: int = 1,
    mask: tf.Tensor | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> tf.Tensor:
    """Deformable 2-D convolution, NHWC, no bias, by the C++ kernels.

    Args: as `reference.deformable_conv2d`, plus
        block_bytes: int. Most bytes of sampled columns held at once. Defaults to
            64 MiB.

    Returns:
        [N, Ho, Wo, O] tensor in the dtype of `inputs` (float32 or float64 on a
        CPU; those, float16 or bfloat16 on a GPU).

    Raises:
        OpBuildError: the kernels cannot be built, or (with a GPU visible) their
            CUDA code cannot be compiled (`deformable_conv_available()` and
            `gpu_guard` say so without raising).

    Example:
        >>> out = deformable_conv2d_custom_op(x, offsets, w, padding=2, dilation=2)
    """
    ops = load_op(OP_NAME)
    if tf.config.list_logical_devices("GPU"):
        from tfdeeplab.ops.deformable_conv.gpu import prepare_gpu_kernels

        prepare_gpu_kernels()  # the CUDA images, once per process
    kh, kw, channels, filters = kernel.shape
    dtype = inputs.dtype
    # The blocks' gradients add up in float32 for the 16-bit types.
    sum_dtype = tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype
    row = kh * kw * channels
    block = max(1, block_bytes // (row * dtype.size))
    attributes = {
        "kernel_size": [kh, kw],
        "stride": strides,
        "padding": padding,
        "dilation": dilation,
        "deformable_groups": deformable_groups,
        "use_mask": mask is not None,
    }
    mask_or_empty = tf.zeros([0], dtype) if mask is None else tf.cast(mask, dtype)

    @tf.custom_gradient
    def convolve(inputs, offsets, kernel, mask):
        shape = tf.shape(offsets, out_type=tf.int64)
        pixels = shape[0] * shape[1] * shape[2]
        flat_kernel = tf.reshape(kernel, [row, filters])

        def columns(start, count):
            return ops.tfdeeplab_deformable_im2col(
                inputs, offsets, mask, start, count, **attributes
            )

        def forward(start, count, outputs):
            return outputs.write(
                outputs.size(), tf.matmul(columns(start, count), flat_kernel)
            )

        blocks = tf.TensorArray(
            dtype,
            size=0,
            dynamic_size=True,
            infer_shape=False,
            element_shape=tf.TensorShape([None, filters]),
        )
        outputs = _over_blocks(pixels, block, forward, blocks).concat()
        outputs = tf.reshape(outputs, tf.concat([shape[:3], [filters]], 0))

        def gradient(upstream):
            grad_out = tf.reshape(upstream, [-1, filters])

            def backward(start, count, sums):
                grad_block = grad_out[start : start + count]
                block_kernel = tf.matmul(
                    columns(start, count), grad_block, transpose_a=True
                )
                grad_columns = tf.matmul(grad_block, flat_kernel, transpose_b=True)
                block_grads = ops.tfdeeplab_deformable_im2col_grad(
                    inputs, offsets, mask, grad_columns, start, **attributes
                )
                parts = (block_kernel, *block_grads)
                return tuple(
                    total + tf.cast(part, sum_dtype)
                    for total, part in zip(sums, parts, strict=True)
                )

            initial = (
                tf.zeros([row, filters], sum_dtype),
                tf.zeros(tf.shape(inputs), sum_dtype),
                tf.zeros(tf.shape(offsets), sum_dtype),
                tf.zeros(tf.shape(mask), sum_dtype),
            )
            sums = _over_blocks(pixels, block, backward, initial)
            grad_kernel, grad_inputs, grad_offsets, grad_mask = (
                tf.cast(total, dtype) for total in sums
            )
            grad_kernel = tf.reshape(grad_kernel, [kh, kw, channels, filters])
            return grad_inputs, grad_offsets, grad_kernel, grad_mask

        return outputs, gradient

    return convolve(
        inputs, tf.cast(offsets, dtype), tf.cast(kernel, dtype), mask_or_empty
    )


def deformable_conv_available() -> bool:
    """True when the kernels are built (building them now if needed).

    A failed build is not tried again in this process; the first failure logs a
    warning with the compiler's reason (see `tfdeeplab.ops.op_cache.op_available`).
    """
    return op_available(OP_NAME)
