"""Per-weight learning-rate and decay multipliers, read as the trainer reads them."""

import pytest

from tests.helpers import tiny
from tfdeeplab.models import Multipliers, build_model, weight_multipliers


def test_seed_multipliers(tiny_model_config):
    model = build_model(tiny(tiny_model_config, deformable_units=("res5a",)))
    multipliers = weight_multipliers(model)
    assert set(multipliers) == {v.path for v in model.trainable_weights}
    assert multipliers["score/kernel"] == Multipliers(1.0, 1.0)
    assert multipliers["score/bias"] == Multipliers(2.0, 0.0)
    assert multipliers["fc6/bias"] == Multipliers(2.0, 0.0)
    assert multipliers["res3a_branch2a/kernel"] == Multipliers(1.0, 1.0)
    assert multipliers["res5a_branch2b/kernel"] == Multipliers(1.0, 1.0)
    assert multipliers["res5a_branch2b_offset/bias"] == Multipliers(2.0, 0.0)
    # conv1, res2 and every frozen BN have no entry: the trainer never updates them.
    assert not any(path.startswith(("conv1", "res2", "bn")) for path in multipliers)


def test_paper_head_multipliers_reach_nested_msc_layers(tiny_model_config):
    config = tiny(
        tiny_model_config,
        head="aspp_v2",
        msc_scales=(1.0, 0.5),
        head_kernel_lr_multiplier=10.0,
        head_bias_lr_multiplier=20.0,
    )
    multipliers = weight_multipliers(build_model(config))
    assert multipliers["aspp_c3/kernel"] == Multipliers(10.0, 1.0)
    assert multipliers["aspp_c3/bias"] == Multipliers(20.0, 0.0)


def test_trainable_batch_norm_decays_gamma_not_beta(tiny_model_config):
    model = build_model(tiny(tiny_model_config, batch_norm="train", frozen_stages=()))
    multipliers = weight_multipliers(model)
    assert multipliers["bn_conv1/gamma"] == Multipliers(1.0, 1.0)
    assert multipliers["bn_conv1/beta"] == Multipliers(1.0, 0.0)
    assert multipliers["conv1/kernel"] == Multipliers(1.0, 1.0)


@pytest.mark.parametrize("stages", [(), ("conv1", "res2", "res3")])
def test_frozen_stages_follow_the_recipe(tiny_model_config, stages):
    multipliers = weight_multipliers(
        build_model(tiny(tiny_model_config, frozen_stages=stages))
    )
    assert ("conv1/kernel" in multipliers) == ("conv1" not in stages)
    assert ("res3a_branch1/kernel" in multipliers) == ("res3" not in stages)
    assert "res4a_branch1/kernel" in multipliers
