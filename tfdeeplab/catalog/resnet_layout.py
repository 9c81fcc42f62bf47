"""ResNet-v1 layout facts: depths, stages, strides and the Caffe names of the layers.

Pure Python (no TensorFlow), so recipes can be validated before anything heavy loads;
the recipe schema takes its allowed depths, output strides and stage names from here,
and `tfdeeplab.models.resnet` builds the layers from the same tables.

The names follow the released Caffe models: ResNet-50 letters every unit (res3a..res3d);
ResNet-101/152 letter stages of up to three units and number the rest after the first
(res4a, res4b1, ..., res4b22).
"""

from __future__ import annotations

import string

# Bottleneck units per stage (res2, res3, res4, res5), He et al. 2016, Table 1.
RESNET_UNITS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
STAGE_NAMES = ("conv1", "res2", "res3", "res4", "res5")
# Stride of each residual stage's first unit in the plain (non-atrous) network.
STAGE_STRIDES = {"res2": 1, "res3": 2, "res4": 2, "res5": 2}
STEM_STRIDE = 4  # conv1 stride 2, pool1 stride 2
# Input size / feature size. 8 and 16 are DeepLab's; 32 is the plain network. A
# stride below 8 would dilate res3 as well, which no published DeepLab does.
OUTPUT_STRIDES = (8, 16, 32)


def resnet_unit_names(
    depth: int, units_per_stage: tuple[int, ...] | None = None
) -> dict[str, tuple[str, ...]]:
    """Caffe names of the residual units of a ResNet-v1, by stage.

    Args:
        depth: int. 50, 101 or 152; picks the naming style and, unless
            `units_per_stage` is given, the unit counts.
        units_per_stage: four ints or None. Units in res2..res5 instead of the
            depth's standard counts (small networks for tests). Defaults to None.

    Returns:
        A dict from stage name (`res2`..`res5`) to its unit names in order.

    Raises:
        KeyError: for a depth not in `RESNET_UNITS` (when `units_per_stage` is None).
        ValueError: when `units_per_stage` is not four counts of at least 1.

    Example:
        >>> resnet_unit_names(101)["res3"]
        ('res3a', 'res3b1', 'res3b2', 'res3b3')
    """
    names = {}
    counts = RESNET_UNITS[depth] if not units_per_stage else tuple(units_per_stage)
    if len(counts) != 4 or min(counts) < 1:
        raise ValueError(f"units_per_stage needs four counts >= 1, got {counts}")
    for stage_index, num_units in enumerate(counts, start=2):
        stage = f"res{stage_index}"
        if depth > 50 and num_units > 3:
            units = [f"{stage}a"] + [f"{stage}b{i}" for i in range(1, num_units)]
        else:
            units = [f"{stage}{string.ascii_lowercase[i]}" for i in range(num_units)]
        names[stage] = tuple(units)
    return names


def stage_strides_and_dilations(output_stride: int) -> dict[str, tuple[int, int]]:
    """(stride, dilation) of each residual stage for an output stride.

    A stage whose stride would take the network past the output stride keeps stride
    1 and dilates its 3x3 convolutions instead (DeepLab v2; tensorflow/models'
    resnet_deeplab).

    Args:
        output_stride: int. One of `OUTPUT_STRIDES` (8, 16, 32).

    Returns:
        dict from `res2`..`res5` to (stride of its first unit, dilation of its 3x3s).

    Raises:
        ValueError: for an output stride not in `OUTPUT_STRIDES`.

    Example:
        >>> stage_strides_and_dilations(16)["res5"]
        (1, 2)
    """
    if output_stride not in OUTPUT_STRIDES:
        expected = ", ".join(str(stride) for stride in OUTPUT_STRIDES)
        raise ValueError(
            f"output_stride must be one of {expected}, got {output_stride}"
        )
    current_stride, dilation, plan = STEM_STRIDE, 1, {}
    for stage, stride in STAGE_STRIDES.items():
        if current_stride * stride > output_stride:
            dilation *= stride
            plan[stage] = (1, dilation)
        else:
            current_stride *= stride
            plan[stage] = (stride, dilation)
    return plan


def batch_norm_name(conv_layer: str) -> str:
    """The Caffe name of the BatchNorm after a convolution.

    The one naming rule the models build with and the weight importer maps by.

    Example:
        >>> batch_norm_name("conv1"), batch_norm_name("res4b22_branch2c")
        ('bn_conv1', 'bn4b22_branch2c')
    """
    return "bn_conv1" if conv_layer == "conv1" else "bn" + conv_layer[len("res") :]
