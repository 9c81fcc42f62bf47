"""The two heads on res5 features: layers, sizes, initialisation, multipliers."""

import keras
import numpy as np
import pytest

from tfdeeplab.models.heads import HEADS, aspp_v2_head, dcn_deeplab_head
from tfdeeplab.models.multipliers import Multipliers, weight_multipliers

FEATURES = np.random.default_rng(0).normal(size=(2, 7, 9, 64)).astype("float32")


def head_model(head, **kwargs):
    features = keras.Input((None, None, 64))
    return keras.Model(features, head(features, **kwargs))


def test_dcn_deeplab_head_is_fc6_relu_score():
    model = head_model(
        dcn_deeplab_head, num_classes=5, fc6_channels=256, bias_lr_multiplier=2.0
    )
    fc6, score = model.get_layer("fc6"), model.get_layer("score")
    assert fc6.kernel.shape == (1, 1, 64, 256) and fc6.use_bias
    assert score.kernel.shape == (1, 1, 256, 5) and score.use_bias
    assert isinstance(model.get_layer("fc6_relu"), keras.layers.ReLU)
    logits = model(FEATURES)
    assert logits.shape == (2, 7, 9, 5)
    # 1x1 convolutions: each pixel's logits depend on that pixel's features only.
    fc6_out = np.maximum(FEATURES @ fc6.kernel.numpy()[0, 0] + fc6.bias.numpy(), 0)
    expected = fc6_out @ score.kernel.numpy()[0, 0] + score.bias.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
    assert weight_multipliers(model)["score/bias"] == Multipliers(2.0, 0.0)


def test_head_initialisation():
    model = head_model(
        dcn_deeplab_head, num_classes=5, fc6_channels=256, init_stddev=0.01
    )
    fc6 = model.get_layer("fc6")
    assert np.std(fc6.kernel.numpy()) == pytest.approx(0.01, rel=0.05)
    assert not np.any(fc6.bias.numpy())
    assert not np.any(model.get_layer("score").bias.numpy())


def test_aspp_sums_one_branch_per_rate():
    model = head_model(
        aspp_v2_head, num_classes=3, atrous_rates=(1, 2, 3), kernel_lr_multiplier=10.0
    )
    branches = [model.get_layer(f"aspp_c{i}") for i in range(3)]
    assert [b.dilation_rate for b in branches] == [(1, 1), (2, 2), (3, 3)]
    assert all(b.kernel.shape == (3, 3, 64, 3) for b in branches)
    each = keras.Model(model.input, [b.output for b in branches])(FEATURES)
    np.testing.assert_allclose(model(FEATURES), sum(each), rtol=1e-5, atol=1e-6)
    assert weight_multipliers(model)["aspp_c2/kernel"] == Multipliers(10.0, 1.0)


def test_a_single_rate_needs_no_sum():
    model = head_model(aspp_v2_head, num_classes=3, atrous_rates=(6,))
    assert "aspp_sum" not in [layer.name for layer in model.layers]
    assert model(FEATURES).shape == (2, 7, 9, 3)


def test_heads_are_looked_up_by_recipe_name():
    assert HEADS == {"dcn_deeplab": dcn_deeplab_head, "aspp_v2": aspp_v2_head}
