"""Multi-scale inputs (MSC), DeepLab v2 §3.4 / SPEC §2.

The same network (shared weights) runs on the image at every scale (1, 0.75, 0.5 by
default); each scale's raw logits are resized to the scale-1 raw logits' size and fused
by element-wise max. For training, each scale's own logits are kept too: the loss is the
sum over every scale's output and the fused output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from tfdeeplab.models.layers import AlignedBilinearResize


def multi_scale_logits(
    images,
    network: keras.Model,
    scales: Sequence[float],
    make_upsampler: Callable[[str], keras.layers.Layer],
    dtype_policy: str | None = None,
):
    """Run `network` at several scales and fuse the logits by max.

    Args:
        images: Keras tensor [N, H, W, 3].
        network: keras.Model mapping an image to raw (feature-resolution) logits.
        scales: sequence of float, the first 1.0. Inputs are resized align-corners
            to floor((H - 1) * s) + 1 (DeepLab v2: 321 -> 241 at 0.75, 161 at 0.5).
        make_upsampler: callable(name) returning a layer that takes
            `[raw_logits, reference]` and returns logits at the reference's size.
        dtype_policy: str or None. Keras dtype policy. Defaults to None.

    Returns:
        (fused logits at the input size, list of each scale's logits at that
        scale's input size, in the order of `scales`).

    Example:
        >>> fused, per_scale = multi_scale_logits(images, net, (1.0, 0.75, 0.5), up)
    """
    raw_logits, scaled_inputs = [], []
    for index, scale in enumerate(scales):
        if scale == 1.0:
            scaled = images
        else:
            scaled = AlignedBilinearResize(
                scale=scale, name=f"msc_input_s{index}", dtype=dtype_policy
            )(images)
        scaled_inputs.append(scaled)
        raw_logits.append(network(scaled))

    reference = raw_logits[0]
    aligned = [reference] + [
        AlignedBilinearResize(name=f"msc_align_s{index}", dtype=dtype_policy)(
            [raw, reference]
        )
        for index, raw in enumerate(raw_logits[1:], start=1)
    ]
    fused_raw = keras.layers.Maximum(name="msc_max", dtype=dtype_policy)(aligned)
    fused = make_upsampler("upsampling")([fused_raw, images])
    per_scale = [
        make_upsampler(f"upsampling_s{index}")([raw, scaled])
        for index, (raw, scaled) in enumerate(
            zip(raw_logits, scaled_inputs, strict=True)
        )
    ]
    return fused, per_scale
