"""ResNet-v1 in the Caffe/MSRA style, with atrous convolution (SPEC §2).

- Bottleneck units, post-activation (add, then ReLU); the downsampling stride sits in
  the first 1x1 conv (branch2a) and the 1x1 shortcut (branch1); no conv has a bias.
- Stem: 7x7/2 conv (pad 3), BN, ReLU, 3x3/2 max-pool in Caffe's ceil mode with
  padding 0 (MSRA, DCN, the seed) or 1 (DeepLab v2's Caffe model).
- Output stride 8, 16 or 32: a stage whose stride would take the network past the
  output stride keeps stride 1 and dilates its 3x3 convs instead (DeepLab v2, and
  tensorflow/models' resnet_deeplab).
- Layer names are the MSRA/Caffe names (conv1, bn_conv1, res4b22_branch2c,
  bn4b22_branch2c, ...), so pretrained weights map 1:1.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
Atrous Convolution, and Fully Connected CRFs", TPAMI 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup
from tfdeeplab.catalog.resnet_layout import (
    batch_norm_name,
    resnet_unit_names,
    stage_strides_and_dilations,
)
from tfdeeplab.models.layers import FrozenBatchNormalization, MultiplierConv2D
from tfdeeplab.ops.deformable_conv import DeformableConv2D

STAGE_WIDTHS = {"res2": 64, "res3": 128, "res4": 256, "res5": 512}  # bottleneck width
BOTTLENECK_EXPANSION = 4


def _frozen(factory: _LayerFactory, stage: str, common: dict):
    """A fixed affine map from the moving statistics, also in training (SPEC §3)."""
    return FrozenBatchNormalization(**common)


def _trained(factory: _LayerFactory, stage: str, common: dict, synchronized=False):
    """Ordinary BatchNorm: batch statistics in training, per replica or synced."""
    return keras.layers.BatchNormalization(
        momentum=factory.momentum,
        synchronized=synchronized,
        trainable=factory.trainable(stage),
        **common,
    )


def _synced(factory: _LayerFactory, stage: str, common: dict):
    """BatchNorm with statistics over the global batch (all replicas)."""
    return _trained(factory, stage, common, synchronized=True)


BATCH_NORM_LAYERS = implemented(
    choices.BATCH_NORMS, {"frozen": _frozen, "train": _trained, "sync": _synced}
)


class _LayerFactory:
    """Makes the backbone's conv and BN layers with the options they all share."""

    def __init__(self, batch_norm, epsilon, momentum, frozen_stages, dtype_policy):
        self.make_batch_norm = lookup(BATCH_NORM_LAYERS, batch_norm, "batch_norm")
        self.epsilon = epsilon
        self.momentum = momentum
        self.frozen_stages = frozenset(frozen_stages)
        self.dtype_policy = dtype_policy

    def trainable(self, stage: str) -> bool:
        return stage not in self.frozen_stages

    def conv(
        self,
        stage,
        name,
        filters,
        kernel_size,
        strides=1,
        dilation_rate=1,
        padding="valid",
    ):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            dilation_rate=dilation_rate,
            padding=padding,
            use_bias=False,
            kernel_initializer="he_normal",
            trainable=self.trainable(stage),
            dtype=self.dtype_policy,
            name=name,
        )

    def batch_norm_layer(self, stage, name):
        common = dict(epsilon=self.epsilon, name=name, dtype=self.dtype_policy)
        return self.make_batch_norm(self, stage, common)

    def relu(self, name):
        return keras.layers.ReLU(name=name, dtype=self.dtype_policy)


def _stem(images, layers: _LayerFactory, pool_padding: int):
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad", dtype=layers.dtype_policy)(
        images
    )
    x = layers.conv("conv1", "conv1", 64, 7, strides=2)(x)
    x = layers.batch_norm_layer("conv1", batch_norm_name("conv1"))(x)
    x = layers.relu("conv1_relu")(x)
    # Caffe's ceil-mode pooling equals floor-mode pooling over one extra row/column of
    # padding at the bottom/right. The input is post-ReLU (>= 0) and every window holds
    # a real pixel, so zero padding cannot win a max.
    padding = ((pool_padding, pool_padding + 1), (pool_padding, pool_padding + 1))
    x = keras.layers.ZeroPadding2D(
        padding, name="pool1_pad", dtype=layers.dtype_policy
    )(x)
    return keras.layers.MaxPooling2D(
        3, strides=2, name="pool1", dtype=layers.dtype_policy
    )(x)


def _bottleneck(
    x,
    layers: _LayerFactory,
    stage: str,
    unit: str,
    width: int,
    stride: int,
    dilation: int,
    shortcut_conv: bool,
    deformable_groups: int | None,
):
    """One bottleneck unit; `unit` is its Caffe name (res4b3), BN names follow."""

    def batch_norm(stage, conv_name):
        return layers.batch_norm_layer(stage, batch_norm_name(conv_name))

    if shortcut_conv:
        shortcut = layers.conv(
            stage, f"{unit}_branch1", width * BOTTLENECK_EXPANSION, 1, stride
        )(x)
        shortcut = batch_norm(stage, f"{unit}_branch1")(shortcut)
    else:
        shortcut = x

    y = layers.conv(stage, f"{unit}_branch2a", width, 1, stride)(x)
    y = batch_norm(stage, f"{unit}_branch2a")(y)
    y = layers.relu(f"{unit}_branch2a_relu")(y)
    if deformable_groups is None:
        y = layers.conv(
            stage, f"{unit}_branch2b", width, 3, dilation_rate=dilation, padding="same"
        )(y)
    else:
        y = _deformable_branch2b(
            y, layers, stage, unit, width, dilation, deformable_groups
        )
    y = batch_norm(stage, f"{unit}_branch2b")(y)
    y = layers.relu(f"{unit}_branch2b_relu")(y)
    y = layers.conv(stage, f"{unit}_branch2c", width * BOTTLENECK_EXPANSION, 1)(y)
    y = batch_norm(stage, f"{unit}_branch2c")(y)

    y = keras.layers.Add(name=unit, dtype=layers.dtype_policy)([shortcut, y])
    return layers.relu(f"{unit}_relu")(y)


def _deformable_branch2b(x, layers, stage, unit, width, dilation, groups):
    """DCN v1 branch2b: a zero-initialised 3x3 offset conv (bias lr x2) steers it."""
    taps = 3 * 3
    offsets = MultiplierConv2D(
        2 * groups * taps,
        3,
        padding="same",
        kernel_initializer="zeros",
        bias_initializer="zeros",
        bias_lr_multiplier=2.0,
        trainable=layers.trainable(stage),
        dtype=layers.dtype_policy,
        name=f"{unit}_branch2b_offset",
    )(x)
    return DeformableConv2D(
        width,
        3,
        padding=dilation,
        dilation_rate=dilation,
        deformable_groups=groups,
        trainable=layers.trainable(stage),
        dtype=layers.dtype_policy,
        name=f"{unit}_branch2b",
    )([x, offsets])


def resnet_v1_features(
    images,
    *,
    depth: int = 101,
    units_per_stage: Sequence[int] | None = None,
    output_stride: int = 16,
    stem_pool_padding: int = 0,
    batch_norm: str = "frozen",
    batch_norm_epsilon: float = 1e-5,
    batch_norm_momentum: float = 0.9,
    frozen_stages: Sequence[str] = ("conv1", "res2"),
    deformable_units: Sequence[str] = (),
    deformable_groups: int = 1,
    dtype_policy: str | None = None,
):
    """Apply a ResNet-v1 to a Keras tensor and return its res5 features.

    Args:
        images: Keras tensor [N, H, W, 3], preprocessed (BGR minus mean for the
            MSRA weights).
        depth: int. 50, 101 or 152. Defaults to 101.
        units_per_stage: four ints or None. Units of res2..res5 instead of the
            depth's standard (3, 4, 23, 3) etc.; for small test networks. Defaults
            to None.
        output_stride: int. 8, 16 or 32. Defaults to 16.
        stem_pool_padding: int. 0 (MSRA/DCN) or 1 (DeepLab v2 Caffe). Defaults to 0.
        batch_norm: str. `frozen`, `train` or `sync`. Defaults to "frozen".
        batch_norm_epsilon: float. Defaults to 1e-5.
        batch_norm_momentum: float. Used by `train` and `sync`. Defaults to 0.9.
        frozen_stages: sequence of str. Stages (`conv1`, `res2`, ...) not trained.
            Defaults to ("conv1", "res2").
        deformable_units: sequence of str. Units whose branch2b is deformable.
            Defaults to ().
        deformable_groups: int. Deformable groups of those units. Defaults to 1.
        dtype_policy: str or None. Keras dtype policy of every layer (e.g.
            "mixed_float16"); None for the global default. Defaults to None.

    Returns:
        Keras tensor [N, h, w, 2048], res5's output (`res5c_relu` for ResNet-101).

    Raises:
        KeyError: for a depth not in `RESNET_UNITS` (without `units_per_stage`).
        ValueError: for an output stride not in `OUTPUT_STRIDES`, unit counts that
            are not four positive numbers, or a deformable unit name the network
            does not have.

    Example:
        >>> images = keras.Input((None, None, 3))
        >>> features = resnet_v1_features(images, depth=101, output_stride=8)
    """
    names = resnet_unit_names(depth, units_per_stage)
    unknown = set(deformable_units) - {
        unit for units in names.values() for unit in units
    }
    if unknown:
        raise ValueError(f"ResNet-{depth} has no units named {sorted(unknown)}")
    layers = _LayerFactory(
        batch_norm, batch_norm_epsilon, batch_norm_momentum, frozen_stages, dtype_policy
    )
    x = _stem(images, layers, stem_pool_padding)
    plan = stage_strides_and_dilations(output_stride)
    for stage, units in names.items():
        stride, dilation = plan[stage]
        for index, unit in enumerate(units):
            x = _bottleneck(
                x,
                layers,
                stage,
                unit,
                STAGE_WIDTHS[stage],
                stride if index == 0 else 1,
                dilation,
                shortcut_conv=index == 0,
                deformable_groups=deformable_groups
                if unit in deformable_units
                else None,
            )
    return x


def build_resnet_v1(**kwargs) -> keras.Model:
    """A standalone ResNet-v1 feature extractor: image [N, H, W, 3] -> res5 features.

    Args:
        **kwargs: The keyword arguments of `resnet_v1_features`.

    Returns:
        keras.Model named `resnet_v1_<depth>`.

    Example:
        >>> backbone = build_resnet_v1(depth=50, output_stride=32)
    """
    images = keras.Input((None, None, 3), name="image")
    features = resnet_v1_features(images, **kwargs)
    return keras.Model(images, features, name=f"resnet_v1_{kwargs.get('depth', 101)}")
