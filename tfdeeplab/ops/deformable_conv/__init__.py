"""Deformable convolution (DCN v1, Dai et al. 2017) and its modulated form (DCN v2).

`deformable_conv2d` runs our kernels (`kernel.py`: C++ on a CPU, CUDA on a GPU,
compiled by NVRTC in `gpu.py` and checked once per process by `gpu_guard.py`) or the
pure-TensorFlow reference (`reference.py`: gathers, bilinear weights, matmul; XLA,
export), as `implementation` says; `DeformableConv2D` is the Keras layer the models
use.
"""

from tfdeeplab.ops.deformable_conv.dispatch import (
    IMPLEMENTATIONS,
    check_implementation,
    deformable_conv2d,
    resolve_implementation,
)
from tfdeeplab.ops.deformable_conv.kernel import (
    deformable_conv2d_custom_op,
    deformable_conv_available,
)
from tfdeeplab.ops.deformable_conv.layer import (
    DeformableConv2D,
    set_deformable_implementation,
)
from tfdeeplab.ops.deformable_conv.reference import (
    deformable_conv2d_reference,
    output_size,
)

__all__ = [
    "IMPLEMENTATIONS",
    "DeformableConv2D",
    "check_implementation",
    "deformable_conv2d",
    "deformable_conv2d_custom_op",
    "deformable_conv2d_reference",
    "deformable_conv_available",
    "output_size",
    "resolve_implementation",
    "set_deformable_implementation",
]
