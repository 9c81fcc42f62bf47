"""Keras layer for deformable convolution; the offsets come from the caller."""

from __future__ import annotations

import keras

from tfdeeplab.ops.deformable_conv.dispatch import (
    check_implementation,
    deformable_conv2d,
)
from tfdeeplab.ops.deformable_conv.reference import output_size


@keras.saving.register_keras_serializable(package="tfdeeplab")
class DeformableConv2D(keras.layers.Layer):
    """Deformable convolution (DCN v1; DCN v2 when a mask is given), NHWC.

    The layer owns only the convolution kernel (and optional bias), like the MSRA
    op and torchvision's `deform_conv2d`: the offsets (and mask) are inputs, produced
    by an ordinary convolution of the caller's (`res5a_branch2b_offset` in DeepLab),
    so the pretrained weight names map 1:1.

    Args:
        filters: int. Output channels.
        kernel_size: int. Square kernel size. Defaults to 3.
        strides: int. Defaults to 1.
        padding: int. Implicit zero padding on each side. Defaults to 0.
        dilation_rate: int. Defaults to 1.
        deformable_groups: int. Groups of input channels sharing one offset field.
            Defaults to 1.
        use_bias: bool. Defaults to False (the DCN ResNet units have none).
        kernel_initializer: initializer. Defaults to "he_normal".
        bias_initializer: initializer. Defaults to "zeros".
        implementation: str. `auto` (our kernels where they are built: C++ on a
            CPU, CUDA on a GPU once they pass the guard; else the reference),
            `custom_op` or `reference`. Defaults to `auto`.

    Call arguments:
        inputs: `[features, offsets]` or `[features, offsets, mask]`, with offsets
            [N, Ho, Wo, 2 * G * k * k] and mask [N, Ho, Wo, G * k * k].

    Example:
        >>> offsets = keras.layers.Conv2D(18, 3, padding="same")(x)
        >>> y = DeformableConv2D(512, 3, padding=2, dilation_rate=2)([x, offsets])
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        strides: int = 1,
        padding: int = 0,
        dilation_rate: int = 1,
        deformable_groups: int = 1,
        use_bias: bool = False,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = int(padding)
        self.dilation_rate = int(dilation_rate)
        self.deformable_groups = int(deformable_groups)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.implementation = check_implementation(implementation)

    def build(self, input_shape):
        channels = input_shape[0][-1]
        if channels % self.deformable_groups:
            raise ValueError(
                f"{self.name}: {channels} input channels are not divisible by "
                f"deformable_groups={self.deformable_groups}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        features, offsets = inputs[0], inputs[1]
        mask = inputs[2] if len(inputs) > 2 else None
        outputs = deformable_conv2d(
            features,
            offsets,
            keras.ops.cast(self.kernel, features.dtype),
            strides=self.strides,
            padding=self.padding,
            dilation=self.dilation_rate,
            deformable_groups=self.deformable_groups,
            mask=mask,
            implementation=self.implementation,
        )
        if self.use_bias:
            outputs = outputs + keras.ops.cast(self.bias, outputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        features_shape = input_shape[0]

        def size(length):
            if length is None:
                return None
            return output_size(
                length, self.kernel_size, self.strides, self.padding, self.dilation_rate
            )

        return (
            features_shape[0],
            size(features_shape[1]),
            size(features_shape[2]),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            deformable_groups=self.deformable_groups,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            implementation=self.implementation,
        )
        return config


def set_deformable_implementation(model: keras.Model, implementation: str) -> int:
    """Make every DeformableConv2D in `model` (nested models too) use `implementation`.

    Takes effect at the next trace. Export uses it to hold the reference, which
    loads without tfdeeplab.

    Returns:
        int. How many layers were set.

    Example:
        >>> set_deformable_implementation(model, "reference")
        4
    """
    check_implementation(implementation)
    count = 0
    pending = list(getattr(model, "layers", []))
    while pending:
        layer = pending.pop()
        if isinstance(layer, DeformableConv2D):
            layer.implementation = implementation
            count += 1
        pending.extend(getattr(layer, "layers", []))
    return count
