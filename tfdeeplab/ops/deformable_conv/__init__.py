"""Deformable convolution (DCN v1, Dai et al. 2017) and its modulated form (DCN v2).

`deformable_conv2d` is the pure-TensorFlow reference (gather + bilinear weights +
matmul); `DeformableConv2D` is the Keras layer the models use.
"""

from tfdeeplab.ops.deformable_conv.layer import DeformableConv2D
from tfdeeplab.ops.deformable_conv.reference import deformable_conv2d, output_size

__all__ = ["DeformableConv2D", "deformable_conv2d", "output_size"]
