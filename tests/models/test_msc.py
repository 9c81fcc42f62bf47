"""Multi-scale inputs: sizes per scale, max fusion, the per-scale training outputs."""

import keras
import numpy as np

from tests.helpers import tiny
from tfdeeplab.models import build_model
from tfdeeplab.models.layers import AlignedBilinearResize
from tfdeeplab.models.msc import multi_scale_logits


def test_deeplab_v2_scale_sizes_and_max_fusion():
    """321 -> 241 at 0.75 and 161 at 0.5 (align-corners), fused by max."""
    images = keras.Input((None, None, 3))
    inner = keras.Input((None, None, 3))
    # A stand-in network: raw "logits" at stride 8 are the subsampled image itself.
    network = keras.Model(inner, keras.layers.Lambda(lambda x: x[:, ::8, ::8])(inner))
    fused, per_scale = multi_scale_logits(
        images,
        network,
        (1.0, 0.75, 0.5),
        lambda name: AlignedBilinearResize(name=name),
    )
    model = keras.Model(images, [fused, *per_scale])
    image = np.random.default_rng(0).normal(size=(1, 321, 321, 3)).astype("float32")
    fused_out, *scales = model(image)
    assert fused_out.shape == (1, 321, 321, 3)
    assert [s.shape[1] for s in scales] == [321, 241, 161]
    fusion = model.get_layer("msc_max")
    raw = keras.Model(model.input, [*fusion.input, fusion.output])(image)
    *aligned, fused_raw = (np.asarray(t) for t in raw)
    assert aligned[0].shape == (1, 41, 41, 3)  # every scale at scale 1's raw size
    np.testing.assert_array_equal(fused_raw, np.maximum.reduce(aligned))


def test_built_model_outputs_every_scale_and_the_fused_logits(tiny_model_config):
    config = tiny(tiny_model_config, msc_scales=(1.0, 0.75, 0.5))
    model = build_model(config, include_scale_logits=True)
    image = np.random.default_rng(0).normal(size=(2, 65, 65, 3)).astype("float32")
    outputs = model(image)
    assert sorted(outputs) == ["logits", "scale_0", "scale_1", "scale_2"]
    assert outputs["logits"].shape == (2, 65, 65, 5)
    # Align-corners sizes: floor(64 * s) + 1.
    assert [outputs[f"scale_{i}"].shape[1] for i in range(3)] == [65, 49, 33]

    fusion = model.get_layer("msc_max")
    aligned = keras.Model(model.input, [*fusion.input, fusion.output])(image)
    *scales, fused = (np.asarray(t) for t in aligned)
    np.testing.assert_array_equal(fused, np.maximum.reduce(scales))
    assert not np.allclose(scales[0], scales[1])

    single = build_model(config)
    single.set_weights(model.get_weights())
    np.testing.assert_allclose(single(image), outputs["logits"], rtol=1e-6)
