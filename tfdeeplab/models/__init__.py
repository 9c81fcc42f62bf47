"""DeepLab models: ResNet-v1 atrous backbone, the DCN-paper and ASPP heads, MSC."""

from tfdeeplab.models.builder import build_model
from tfdeeplab.models.heads import aspp_v2_head, dcn_deeplab_head
from tfdeeplab.models.layers import (
    AlignedBilinearResize,
    FixedBilinearUpsampling,
    FrozenBatchNormalization,
    MultiplierConv2D,
)
from tfdeeplab.models.multipliers import Multipliers, weight_multipliers
from tfdeeplab.models.resnet import build_resnet_v1, resnet_v1_features

__all__ = [
    "AlignedBilinearResize",
    "FixedBilinearUpsampling",
    "FrozenBatchNormalization",
    "Multipliers",
    "MultiplierConv2D",
    "aspp_v2_head",
    "build_model",
    "build_resnet_v1",
    "dcn_deeplab_head",
    "resnet_v1_features",
    "weight_multipliers",
]
