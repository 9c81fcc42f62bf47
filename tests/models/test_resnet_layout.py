"""Caffe unit names: what pretrained MSRA/DeepLab weights are keyed by."""

import pytest

from tfdeeplab.catalog.resnet_layout import RESNET_UNITS, resnet_unit_names


def test_resnet101_names_follow_the_caffe_model():
    names = resnet_unit_names(101)
    assert names["res2"] == ("res2a", "res2b", "res2c")
    assert names["res3"] == ("res3a", "res3b1", "res3b2", "res3b3")
    assert names["res4"][0] == "res4a" and names["res4"][-1] == "res4b22"
    assert names["res5"] == ("res5a", "res5b", "res5c")


def test_resnet50_letters_every_unit_and_152_numbers():
    assert resnet_unit_names(50)["res4"] == tuple(f"res4{c}" for c in "abcdef")
    assert resnet_unit_names(152)["res4"][-1] == "res4b35"
    assert resnet_unit_names(152)["res3"][-1] == "res3b7"


@pytest.mark.parametrize("depth", sorted(RESNET_UNITS))
def test_unit_counts_match_depth(depth):
    counts = tuple(len(units) for units in resnet_unit_names(depth).values())
    assert counts == RESNET_UNITS[depth]
    # depth = 3 layers per bottleneck unit + conv1 + fc
    assert 3 * sum(counts) + 2 == depth


def test_custom_unit_counts():
    assert resnet_unit_names(50, (1, 2, 1, 1))["res3"] == ("res3a", "res3b")
    with pytest.raises(ValueError, match="four counts"):
        resnet_unit_names(50, (1, 2))
