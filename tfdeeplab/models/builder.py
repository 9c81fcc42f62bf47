"""The one place where a recipe's model section becomes constructor calls."""

from __future__ import annotations

import math

import keras

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup
from tfdeeplab.config.schema import ModelConfig
from tfdeeplab.models.heads import HEADS
from tfdeeplab.models.layers import AlignedBilinearResize, FixedBilinearUpsampling
from tfdeeplab.models.msc import multi_scale_logits
from tfdeeplab.models.resnet import resnet_v1_features


def _raw_logits(images, config: ModelConfig, dtype_policy):
    features = resnet_v1_features(
        images,
        depth=config.depth,
        units_per_stage=config.units_per_stage or None,
        output_stride=config.output_stride,
        stem_pool_padding=config.stem_pool_padding,
        batch_norm=config.batch_norm,
        batch_norm_epsilon=config.batch_norm_epsilon,
        batch_norm_momentum=config.batch_norm_momentum,
        frozen_stages=config.frozen_stages,
        deformable_units=config.deformable_units,
        deformable_groups=config.deformable_groups,
        dtype_policy=dtype_policy,
    )
    head = lookup(HEADS, config.head, "model.head")
    head_kwargs = dict(
        num_classes=config.num_classes,
        init_stddev=config.head_init_stddev,
        kernel_lr_multiplier=config.head_kernel_lr_multiplier,
        bias_lr_multiplier=config.head_bias_lr_multiplier,
        dtype_policy=dtype_policy,
        # The recipe keys only this head reads (fc6_channels, atrous_rates).
        **{key: getattr(config, key) for key in choices.HEAD_OPTIONS[config.head]},
    )
    return head(features, **head_kwargs)


UPSAMPLERS = implemented(
    choices.UPSAMPLINGS,
    {
        # The seed's fixed bilinear transposed convolution, kernel 2 * stride.
        "deconv": lambda config, name, dtype: FixedBilinearUpsampling(
            config.output_stride, name=name, dtype=dtype
        ),
        # DeepLab v2's Caffe Interp: an align-corners bilinear resize.
        "interp": lambda config, name, dtype: AlignedBilinearResize(
            name=name, dtype=dtype
        ),
    },
)


def _upsampler_factory(config: ModelConfig, dtype_policy):
    upsampler = lookup(UPSAMPLERS, config.upsampling, "model.upsampling")

    def make(name: str) -> keras.layers.Layer:
        return upsampler(config, name, dtype_policy)

    return make


def _float32(name: str) -> keras.layers.Layer:
    # Logits leave the model in float32 whatever the compute dtype (mixed precision).
    return keras.layers.Activation("linear", dtype="float32", name=name)


def smallest_input_side(config: ModelConfig) -> int:
    """The smallest input height and width the model accepts.

    The stem's ceil-mode max-pool needs a 2x2 map without padding (an input of 3;
    the MSRA/DCN stem) and 1x1 with it (DeepLab v2's); an MSC model needs that at
    its smallest scale, whose input is floor((H - 1) * s) + 1. Every later stage
    keeps at least one pixel.

    Example:
        >>> smallest_input_side(load_recipe("voc_aspp_msc").model)
        3
    """
    stem = 3 if config.stem_pool_padding == 0 else 1
    side = stem
    while any(math.floor((side - 1) * scale) + 1 < stem for scale in config.msc_scales):
        side += 1
    return side


def build_model(
    config: ModelConfig,
    *,
    include_scale_logits: bool = False,
    dtype_policy: str | None = None,
) -> keras.Model:
    """Build the DeepLab variant a recipe's `model` section describes.

    Args:
        config: ModelConfig. `recipe.model`.
        include_scale_logits: bool. If True the model returns a dict: `logits` plus,
            for multi-scale models, `scale_0`, `scale_1`, ... (each scale's logits at
            that scale's input size), everything the training loss sums. If False it
            returns the logits tensor alone. Defaults to False.
        dtype_policy: str or None. Keras dtype policy of every layer, e.g.
            "mixed_float16"; logits are float32 regardless. Defaults to None.

    Returns:
        keras.Model: image [N, H, W, 3] (BGR minus mean, float) to logits
        [N, H, W, num_classes] at the input size.

    Example:
        >>> recipe = load_recipe("voc")
        >>> model = build_model(recipe.model)
        >>> logits = model(np.zeros([1, 321, 321, 3], "float32"))  # [1, 321, 321, 21]
    """
    if config.num_classes is None:
        raise ValueError(
            "config.num_classes is None: a recipe loaded with load_recipe has its "
            "dataset's; set it when building a ModelConfig by hand"
        )
    images = keras.Input((None, None, 3), name="image")
    make_upsampler = _upsampler_factory(config, dtype_policy)
    outputs = {}
    if config.msc_scales:
        inner_input = keras.Input((None, None, 3), name="scaled_image")
        network = keras.Model(
            inner_input, _raw_logits(inner_input, config, dtype_policy), name="deeplab"
        )
        fused, per_scale = multi_scale_logits(
            images, network, config.msc_scales, make_upsampler, dtype_policy
        )
        outputs["logits"] = _float32("logits")(fused)
        for index, logits in enumerate(per_scale):
            outputs[f"scale_{index}"] = _float32(f"scale_{index}")(logits)
    else:
        raw = _raw_logits(images, config, dtype_policy)
        outputs["logits"] = _float32("logits")(
            make_upsampler("upsampling")([raw, images])
        )
    name = f"deeplab_{config.head}_resnet{config.depth}_os{config.output_stride}"
    if include_scale_logits:
        return keras.Model(images, outputs, name=name)
    return keras.Model(images, outputs["logits"], name=name)
