"""The shapes of the deformable convolution's parity checks: the one list, read
by the op's tests (`tests/ops`: the C++ kernels against the reference, the CUDA
source's CPU emulation), `deform_vectors.py` (TensorFlow) and
`deformable_gpu_check.py` (no TensorFlow).

Each case: batch, height, width, channels, filters, stride, pad, dilation, deformable
groups, DCN v2 mask; 3x3 taps.
"""

CASES = [
    (2, 9, 7, 4, 3, 1, 1, 1, 1, False),
    (2, 9, 7, 4, 3, 1, 1, 1, 1, True),
    (1, 11, 8, 6, 5, 2, 0, 1, 2, False),
    (2, 10, 13, 4, 2, 1, 2, 2, 2, True),
    (3, 7, 5, 8, 4, 2, 2, 2, 1, True),
    (1, 5, 6, 2, 3, 1, 0, 1, 1, False),  # smaller than the kernel's reach
    (1, 12, 12, 40, 2, 1, 2, 2, 1, True),  # 40 channels: more than a warp's lanes
    (2, 21, 21, 16, 8, 1, 2, 2, 4, True),  # four deformable groups
]
