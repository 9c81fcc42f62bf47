"""The ResNet layout facts, by their earlier name: `tfdeeplab.catalog.resnet_layout`."""

from tfdeeplab.catalog.resnet_layout import (
    OUTPUT_STRIDES,
    RESNET_UNITS,
    STAGE_NAMES,
    STAGE_STRIDES,
    STEM_STRIDE,
    batch_norm_name,
    resnet_unit_names,
    stage_strides_and_dilations,
)

__all__ = [
    "OUTPUT_STRIDES",
    "RESNET_UNITS",
    "STAGE_NAMES",
    "STAGE_STRIDES",
    "STEM_STRIDE",
    "batch_norm_name",
    "resnet_unit_names",
    "stage_strides_and_dilations",
]
