"""How the kernels of `deformable_conv_kernels.cu` are launched, without TensorFlow.

The op library (`deformable_conv_gpu.cc`) launches them on TensorFlow's stream; the
GPU check of `tools/deformable_gpu_check.py` (CuPy and torch, no TensorFlow) and the
CPU tests (the source compiled as C++) launch them themselves. This module is what
those share, so all three fill the kernel's `Geometry` alike and run the same block
and GEMM arithmetic as `kernel.py`. It imports nothing but the standard library:
the GPU check loads it by path.

    geometry = cuda_geometry((2, 41, 41, 512), (3, 3), 1, 2, 2, 1, False, 0, 3362)
    threads = launch_threads(geometry)   # 1-D grid, THREADS_PER_BLOCK to a block
"""

from __future__ import annotations

from collections.abc import Callable

# The kernel's `Geometry`, field by field (all 64-bit integers, in this order).
GEOMETRY_FIELDS = (
    "batch",
    "height",
    "width",
    "channels",
    "out_height",
    "out_width",
    "kernel_h",
    "kernel_w",
    "taps",
    "stride",
    "padding",
    "dilation",
    "groups",
    "group_channels",
    "use_mask",
    "start",
    "count",
    "lanes",
)
THREADS_PER_BLOCK = 256
# Kernel names by storage type; the 16-bit types convert a float32 input gradient.
TYPE_SUFFIXES = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "bfloat16": "bf16",
}
BUFFERED_TYPES = ("float16", "bfloat16")


def lanes_for(group_channels: int) -> int:
    """Threads per (pixel, tap, group) item: the group's channels rounded up to a
    power of two, at most 32 (a warp).

    Example:
        >>> [lanes_for(c) for c in (1, 3, 16, 512)]
        [1, 4, 16, 32]
    """
    lanes = 1
    while lanes < group_channels and lanes < 32:
        lanes *= 2
    return lanes


def cuda_geometry(
    input_shape,
    kernel_size,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
    use_mask: bool,
    start: int,
    count: int,
    lanes: int | None = None,
) -> dict[str, int]:
    """The kernel's `Geometry` for one block of pixels, as a dict in field order.

    Args:
        input_shape: (N, H, W, C) of the input.
        kernel_size: (kh, kw).
        stride, padding, dilation, groups: int. As the op's attributes.
        use_mask: bool. DCN v2.
        start, count: int. The block of output pixels (flattened [N, Ho, Wo]).
        lanes: int or None. Threads per item; defaults to `lanes_for` (what the op
            library uses); the CPU tests pass 1.

    Example:
        >>> cuda_geometry((1, 5, 5, 8), (3, 3), 1, 1, 1, 2, True, 0, 25)["lanes"]
        4
    """
    batch, height, width, channels = (int(size) for size in input_shape)
    kernel_h, kernel_w = (int(size) for size in kernel_size)
    if channels % groups:
        raise ValueError(f"channels {channels} are not divisible by groups {groups}")

    def out_size(size: int, kernel: int) -> int:
        return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1

    group_channels = channels // groups
    values = (
        batch,
        height,
        width,
        channels,
        out_size(height, kernel_h),
        out_size(width, kernel_w),
        kernel_h,
        kernel_w,
        kernel_h * kernel_w,
        stride,
        padding,
        dilation,
        groups,
        group_channels,
        int(bool(use_mask)),
        start,
        count,
        lanes_for(group_channels) if lanes is None else lanes,
    )
    return dict(zip(GEOMETRY_FIELDS, (int(value) for value in values), strict=True))


def launch_threads(geometry: dict[str, int]) -> int:
    """Threads of a launch of either kernel: every item's lanes, in whole blocks.

    Example:
        >>> geometry = cuda_geometry((1, 5, 5, 8), (3, 3), 1, 1, 1, 1, False, 0, 25)
        >>> launch_threads(geometry)   # 25 pixels * 9 taps * 8 lanes, whole blocks
        2048
    """
    threads = (
        geometry["count"] * geometry["taps"] * geometry["groups"] * geometry["lanes"]
    )
    blocks = -(-threads // THREADS_PER_BLOCK)
    return blocks * THREADS_PER_BLOCK


def pixel_blocks(pixels: int, row_bytes: int, block_bytes: int):
    """(start, count) of the blocks `kernel.py` uses: as many pixels as fit columns
    of `row_bytes` each into `block_bytes`.

    Example:
        >>> list(pixel_blocks(10, 100, 400))
        [(0, 4), (4, 4), (8, 2)]
    """
    block = max(1, block_bytes // row_bytes)
    for start in range(0, pixels, block):
        yield start, min(block, pixels - start)


def blocked_deformable_conv(
    im2col: Callable,
    im2col_grad: Callable,
    flat_kernel,
    upstream,
    pixels: int,
    row_bytes: int,
    block_bytes: int,
    accumulate: Callable = lambda part: part,
):
    """Forward and backward of a deformable convolution by blocks, as `kernel.py`.

    Args:
        im2col: `(start, count) -> columns [count, K * C]`.
        im2col_grad: `(grad_columns, start) -> (grad_input, grad_offsets, grad_mask)`
            (full-size arrays; only the block contributes).
        flat_kernel: [K * C, O] array (any library with `@`, `.T` and slicing).
        upstream: [pixels, O] gradient of the output, or None for the forward only.
        pixels, row_bytes, block_bytes: the blocks, as `pixel_blocks`.
        accumulate: applied to each block's gradients before they are summed
            (`kernel.py` sums the 16-bit types' blocks in float32).

    Returns:
        (outputs: list of [count, O] blocks, gradients: None, or (grad_kernel
        [K * C, O], grad_input, grad_offsets, grad_mask)).
    """
    blocks = list(pixel_blocks(pixels, row_bytes, block_bytes))
    outputs = [im2col(start, count) @ flat_kernel for start, count in blocks]
    if upstream is None:
        return outputs, None
    sums = None
    for start, count in blocks:
        grad_block = upstream[start : start + count]
        grad_kernel = im2col(start, count).T @ grad_block
        parts = im2col_grad(grad_block @ flat_kernel.T, start)
        block_sums = tuple(accumulate(part) for part in (grad_kernel, *parts))
        if sums is None:
            sums = block_sums
        else:  # a gradient that is None (no mask) stays None
            sums = tuple(
                None if total is None else total + part
                for total, part in zip(sums, block_sums, strict=True)
            )
    return outputs, sums
