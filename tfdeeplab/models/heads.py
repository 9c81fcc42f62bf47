"""The two DeepLab heads: raw logits at feature resolution from res5 features.

- `dcn_deeplab_head`: the DCN paper's DeepLab (what the seed ran): fc6 1x1 conv to 1024
  with bias, ReLU, score 1x1 conv to the classes (Dai et al., "Deformable Convolutional
  Networks", ICCV 2017, §4).
- `aspp_v2_head`: DeepLab v2's ASPP-L: parallel 3x3 convs at rates 6/12/18/24 from res5
  straight to the classes, summed (Chen et al., TPAMI 2017, §3.3).

Both initialise weights N(0, stddev) and biases to zero, and carry the recipe's head
learning-rate multipliers (SPEC §3).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented
from tfdeeplab.models.layers import MultiplierConv2D


def _head_conv(
    filters,
    kernel_size,
    name,
    *,
    init_stddev,
    kernel_lr,
    bias_lr,
    dtype_policy,
    dilation_rate=1,
):
    return MultiplierConv2D(
        filters,
        kernel_size,
        padding="same",
        dilation_rate=dilation_rate,
        kernel_initializer=keras.initializers.RandomNormal(stddev=init_stddev),
        bias_initializer="zeros",
        kernel_lr_multiplier=kernel_lr,
        bias_lr_multiplier=bias_lr,
        dtype=dtype_policy,
        name=name,
    )


def dcn_deeplab_head(
    features,
    *,
    num_classes: int,
    fc6_channels: int = 1024,
    init_stddev: float = 0.01,
    kernel_lr_multiplier: float = 1.0,
    bias_lr_multiplier: float = 2.0,
    dtype_policy: str | None = None,
):
    """fc6 (1x1, ReLU) then score (1x1): the seed's head, layers `fc6` and `score`.

    Args:
        features: Keras tensor [N, h, w, C], res5's output.
        num_classes: int. Output channels of `score`.
        fc6_channels: int. Width of fc6. Defaults to 1024.
        init_stddev: float. Normal init of the kernels. Defaults to 0.01.
        kernel_lr_multiplier: float. Defaults to 1.0.
        bias_lr_multiplier: float. Defaults to 2.0.
        dtype_policy: str or None. Keras dtype policy. Defaults to None.

    Returns:
        Keras tensor [N, h, w, num_classes] of raw logits.

    Example:
        >>> raw = dcn_deeplab_head(features, num_classes=21)
    """
    common = dict(
        init_stddev=init_stddev,
        kernel_lr=kernel_lr_multiplier,
        bias_lr=bias_lr_multiplier,
        dtype_policy=dtype_policy,
    )
    x = _head_conv(fc6_channels, 1, "fc6", **common)(features)
    x = keras.layers.ReLU(name="fc6_relu", dtype=dtype_policy)(x)
    return _head_conv(num_classes, 1, "score", **common)(x)


def aspp_v2_head(
    features,
    *,
    num_classes: int,
    atrous_rates: Sequence[int] = (6, 12, 18, 24),
    init_stddev: float = 0.01,
    kernel_lr_multiplier: float = 1.0,
    bias_lr_multiplier: float = 2.0,
    dtype_policy: str | None = None,
):
    """ASPP-L: one 3x3 conv per rate (layers `aspp_c0`, `aspp_c1`, ...), summed.

    Args:
        features: Keras tensor [N, h, w, C], res5's output.
        num_classes: int. Output channels of every branch.
        atrous_rates: sequence of int. Dilation of each branch. Defaults to
            (6, 12, 18, 24), DeepLab v2's ASPP-L.
        init_stddev: float. Normal init of the kernels. Defaults to 0.01.
        kernel_lr_multiplier: float. Defaults to 1.0.
        bias_lr_multiplier: float. Defaults to 2.0.
        dtype_policy: str or None. Keras dtype policy. Defaults to None.

    Returns:
        Keras tensor [N, h, w, num_classes] of raw logits.

    Example:
        >>> raw = aspp_v2_head(features, num_classes=21, atrous_rates=(6, 12, 18, 24))
    """
    common = dict(
        init_stddev=init_stddev,
        kernel_lr=kernel_lr_multiplier,
        bias_lr=bias_lr_multiplier,
        dtype_policy=dtype_policy,
    )
    branches = [
        _head_conv(num_classes, 3, f"aspp_c{index}", dilation_rate=rate, **common)(
            features
        )
        for index, rate in enumerate(atrous_rates)
    ]
    if len(branches) == 1:
        return branches[0]
    return keras.layers.Add(name="aspp_sum", dtype=dtype_policy)(branches)


HEADS = implemented(
    choices.HEADS, {"dcn_deeplab": dcn_deeplab_head, "aspp_v2": aspp_v2_head}
)
