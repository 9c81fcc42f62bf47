"""Keras layers that DeepLab needs and Keras does not have.

- `FrozenBatchNormalization`: BatchNorm as a fixed affine map from its moving
  statistics, in training too (the seed's choice, SPEC §3).
- `MultiplierConv2D`: a Conv2D whose weights carry learning-rate multipliers.
- `FixedBilinearUpsampling`: the seed's fixed bilinear transposed convolution,
  cropped to a reference size (SPEC §2, head A).
- `AlignedBilinearResize`: align-corners bilinear resizing, as Caffe's Interp layer in
  DeepLab v2 (used by the `interp` upsampling and by multi-scale inputs).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfdeeplab.models.multipliers import Multipliers

_PACKAGE = "tfdeeplab"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FrozenBatchNormalization(keras.layers.BatchNormalization):
    """BatchNorm that always normalises with its moving statistics.

    Its gamma, beta and statistics are not trained, and `training=True` changes
    nothing: the layer is the fixed affine map y = gamma * (x - mean) / sqrt(var + eps)
    + beta, as in the MSRA/Caffe ResNets fine-tuned by DeepLab and the DCN seed.

    Args:
        **kwargs: Passed to `keras.layers.BatchNormalization` (`epsilon`, `name`, ...).

    Example:
        >>> bn = FrozenBatchNormalization(epsilon=1e-5, name="bn_conv1")
    """

    def __init__(self, **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        self.calibrating = False  # see tfdeeplab.models.calibration
        self.calibration_values = 0  # values per channel of the last calibration

    def call(self, inputs, training=None, mask=None):
        if self.calibrating:  # take this batch's statistics as the moving ones
            axes = [
                axis
                for axis in range(len(inputs.shape))
                if axis != self.axis and axis != len(inputs.shape) + self.axis
            ]
            mean, variance = keras.ops.moments(
                keras.ops.cast(inputs, "float32"), axes=axes
            )
            self.calibration_values = int(np.prod([inputs.shape[a] for a in axes]))
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
        return super().call(inputs, training=False, mask=mask)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MultiplierConv2D(keras.layers.Conv2D):
    """Conv2D whose kernel and bias carry learning-rate multipliers.

    The trainer reads them through `weight_multipliers()` (see
    `tfdeeplab.models.multipliers`). Kernels take weight decay, biases do not (SPEC §3).

    Args:
        kernel_lr_multiplier: float. Learning-rate multiplier of the kernel.
            Defaults to 1.0.
        bias_lr_multiplier: float. Learning-rate multiplier of the bias.
            Defaults to 1.0.
        **kwargs: Passed to `keras.layers.Conv2D`.

    Example:
        >>> score = MultiplierConv2D(21, 1, bias_lr_multiplier=2.0, name="score")
    """

    def __init__(
        self, *args, kernel_lr_multiplier=1.0, bias_lr_multiplier=1.0, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.kernel_lr_multiplier = float(kernel_lr_multiplier)
        self.bias_lr_multiplier = float(bias_lr_multiplier)

    def weight_multipliers(self) -> dict:
        """Multipliers of this layer's weights, keyed by variable path."""
        multipliers = {self.kernel.path: Multipliers(self.kernel_lr_multiplier, 1.0)}
        if self.use_bias:
            multipliers[self.bias.path] = Multipliers(self.bias_lr_multiplier, 0.0)
        return multipliers

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_lr_multiplier=self.kernel_lr_multiplier,
            bias_lr_multiplier=self.bias_lr_multiplier,
        )
        return config


def bilinear_kernel_1d(factor: int) -> np.ndarray:
    """The 1-D bilinear filter of Caffe's/MXNet's `bilinear` initialiser.

    Args:
        factor: int. Upsampling factor; the filter has 2 * factor taps.

    Returns:
        float32 array of 2 * factor taps, w(x) = 1 - |x / f - c| with f = factor and
        c = (2f - 1 - f % 2) / (2f).

    Example:
        >>> bilinear_kernel_1d(2)
        array([0.25, 0.75, 0.75, 0.25], dtype=float32)
    """
    size = 2 * factor
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    taps = np.arange(size, dtype=np.float64)
    return (1.0 - np.abs(taps / factor - center)).astype(np.float32)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FixedBilinearUpsampling(keras.layers.Layer):
    """Upsample by a fixed bilinear transposed conv, then crop to a reference size.

    The seed's head (SPEC §2): a grouped (per-channel) transposed convolution with
    kernel 2 * factor and stride `factor`, initialised bilinear and never trained, whose
    output is cropped at offset factor // 2 to the reference's height and width. For
    factor 16 a 20x20 map gives 336x336, cropped to 321x321. Feature pixel i lands
    centred on image pixel factor * i + (factor - 1) / 2. The kernel is separable,
    so the layer computes the same numbers as one interpolation-matrix product per
    axis.

    Args:
        factor: int. The upsampling factor (the network's output stride).

    Call arguments:
        inputs: a list `[logits, reference]`; `reference` is any [N, H, W, C] tensor
            whose H and W the output takes.

    Example:
        >>> up = FixedBilinearUpsampling(16, name="upsampling")
        >>> logits = up([score, image])
    """

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)
        self._taps = bilinear_kernel_1d(self.factor)

    def _interpolation_matrix(self, out_size, in_size, dtype):
        """[out_size, in_size]: row p holds the taps feature pixels give pixel p.

        The transposed conv puts tap t of feature pixel j on output pixel
        factor * j + t - factor // 2 (after the crop); the kernel is separable, so
        the whole layer is one such matrix per axis.
        """
        taps = ops.convert_to_tensor(self._taps)
        position = ops.expand_dims(ops.arange(out_size) + self.factor // 2, 1)
        tap = position - self.factor * ops.expand_dims(ops.arange(in_size), 0)
        inside = ops.logical_and(tap >= 0, tap < 2 * self.factor)
        weights = ops.take(taps, ops.clip(tap, 0, 2 * self.factor - 1))
        return ops.cast(ops.where(inside, weights, 0.0), dtype)

    def call(self, inputs):
        logits, reference = inputs
        rows = self._interpolation_matrix(
            ops.shape(reference)[1], ops.shape(logits)[1], logits.dtype
        )
        columns = self._interpolation_matrix(
            ops.shape(reference)[2], ops.shape(logits)[2], logits.dtype
        )
        # Two small matrix products: far cheaper than a stride-f transposed conv on
        # channels folded into the batch (about 4x less time forward and backward).
        upsampled = ops.einsum("yj,njwc->nywc", rows, logits)
        return ops.einsum("xw,nywc->nyxc", columns, upsampled)

    def compute_output_shape(self, input_shape):
        logits_shape, reference_shape = input_shape
        return (
            logits_shape[0],
            reference_shape[1],
            reference_shape[2],
            logits_shape[-1],
        )

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor)
        return config


def aligned_size(size, scale: float):
    """Size of an align-corners resize by `scale`: floor((size - 1) * scale) + 1.

    DeepLab v2's Interp layer: 321 at scale 0.75 gives 241, at 0.5 gives 161.
    """
    return ops.cast(ops.floor(ops.cast(size - 1, "float32") * scale), "int32") + 1


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AlignedBilinearResize(keras.layers.Layer):
    """Align-corners bilinear resize (Caffe's Interp layer in DeepLab v2).

    Corner pixels map onto corner pixels, so a 41x41 map resized to 321x321 puts input
    pixel i at output pixel 8 * i. Either resizes by a fixed `scale` (single input) or
    to the size of a reference tensor (inputs `[x, reference]`).

    Args:
        scale: float or None. Resize factor; None to match a reference tensor.
            Defaults to None.

    Example:
        >>> half = AlignedBilinearResize(scale=0.5)(image)
        >>> back = AlignedBilinearResize()([half, image])
    """

    def __init__(self, scale: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.scale = None if scale is None else float(scale)

    def call(self, inputs):
        if self.scale is None:
            images, reference = inputs
            size = ops.shape(reference)[1:3]
        else:
            images = inputs
            shape = ops.shape(images)
            size = ops.stack(
                [aligned_size(shape[1], self.scale), aligned_size(shape[2], self.scale)]
            )
        # Keras 3 has no align-corners resize; TensorFlow's op is the exact one.
        resized = tf.raw_ops.ResizeBilinear(
            images=images, size=size, align_corners=True, half_pixel_centers=False
        )
        return ops.cast(resized, images.dtype)

    def compute_output_shape(self, input_shape):
        if self.scale is None:
            images_shape, reference_shape = input_shape
            return (
                images_shape[0],
                reference_shape[1],
                reference_shape[2],
                images_shape[-1],
            )
        return (input_shape[0], None, None, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config
