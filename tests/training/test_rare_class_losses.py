"""The losses for rare classes against hand-computed cases: class weights, OHEM's
kept pixels, the dice term, the weightings from a histogram; and each in training,
under MirroredStrategy and in mixed precision."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import custom_recipe
from tfdeeplab.training.losses import (
    build_pixel_loss,
    class_weight_vector,
    dice_loss,
    ohem_cross_entropy,
    valid_pixel_cross_entropy,
)


def two_class_logits(probabilities, labels):
    """[1, 1, P, 2] logits whose softmax gives each pixel's true class `p`."""
    logits = []
    for p, label in zip(probabilities, labels, strict=True):
        margin = math.log(p / (1 - p))
        logits.append([margin, 0.0] if label in (0, 255) else [0.0, margin])
    return tf.constant([[logits]], tf.float32)


def test_class_weights_weight_each_pixel_by_its_class_over_the_valid_count():
    labels = tf.constant([[[0, 1, 255]]])
    logits = tf.constant([[[[2.0, 0.0], [1.0, 0.5], [9.0, -9.0]]]])
    ce0 = -math.log(math.exp(2) / (math.exp(2) + 1))
    ce1 = -math.log(math.exp(0.5) / (math.exp(1) + math.exp(0.5)))
    plain = valid_pixel_cross_entropy(labels, logits)
    weighted = valid_pixel_cross_entropy(labels, logits, class_weights=[1.0, 3.0])
    assert float(plain) == pytest.approx((ce0 + ce1) / 2, rel=1e-6)
    assert float(weighted) == pytest.approx((ce0 + 3 * ce1) / 2, rel=1e-6)


def test_ohem_keeps_the_pixels_below_the_threshold_and_at_least_min_kept():
    p = [0.9, 0.6, 0.3, 0.8, 0.1]
    labels = [0, 1, 0, 1, 255]  # the last is ignored, however hard
    logits = two_class_logits(p, labels)
    labels = tf.constant([[labels]])
    below = ohem_cross_entropy(labels, logits, threshold=0.7, min_kept=1)
    assert float(below) == pytest.approx(-(math.log(0.6) + math.log(0.3)) / 2, 1e-5)
    three = ohem_cross_entropy(labels, logits, threshold=0.7, min_kept=3)
    expected = -(math.log(0.6) + math.log(0.3) + math.log(0.8)) / 3
    assert float(three) == pytest.approx(expected, 1e-5)
    every = ohem_cross_entropy(labels, logits, threshold=0.7, min_kept=100)
    assert float(every) == pytest.approx(
        float(valid_pixel_cross_entropy(labels, logits)), 1e-6
    )


def test_dice_loss_by_hand():
    labels = tf.constant([[[0, 1, 255]]])
    logits = tf.constant([[[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, 1.0]]]])
    # softmax: pixel 0 (0.5, 0.5), pixel 1 (0.75, 0.25); pixel 2 ignored.
    dice0 = (2 * 0.5 + 1) / ((0.5 + 0.75) + 1 + 1)
    dice1 = (2 * 0.25 + 1) / ((0.5 + 0.25) + 1 + 1)
    assert float(dice_loss(labels, logits)) == pytest.approx(
        1 - (dice0 + dice1) / 2, 1e-6
    )
    both = build_pixel_loss("cross_entropy_dice")(labels, logits, 255)
    assert float(both) == pytest.approx(
        float(valid_pixel_cross_entropy(labels, logits)) + 1 - (dice0 + dice1) / 2,
        1e-6,
    )


def test_the_weightings_from_a_histogram():
    # 2 images of 50 pixels: class 0 in both (90 px), class 1 in one (10 px).
    median = class_weight_vector("median_frequency", [90, 10, 0], [2, 1, 0], 2)
    # freq 0.9 and 0.2, median 0.55; an absent class weighs 1.
    np.testing.assert_allclose(median, [0.55 / 0.9, 0.55 / 0.2, 1.0])
    inverse = class_weight_vector("inverse_sqrt", [75, 25], [1, 1], 1)
    raw = np.array([1 / math.sqrt(0.75), 1 / math.sqrt(0.25)])
    np.testing.assert_allclose(inverse, raw / raw.mean())
    assert class_weight_vector("none", [1], [1], 1) is None
    assert class_weight_vector((1, 2.5), [1, 1], [1, 1], 1) == [1.0, 2.5]


def test_a_bad_weighting_is_one_line(folder_shards):
    from tfdeeplab.config import RecipeError

    with pytest.raises(RecipeError, match="class_weights: expected one of none"):
        custom_recipe(folder_shards, "train.class_weights=median")
    with pytest.raises(RecipeError, match="expected one weight per class \\(5\\)"):
        custom_recipe(folder_shards, "train.class_weights=[1, 2]")
    recipe = custom_recipe(folder_shards, "train.class_weights=[1, 2, 3, 4, 5]")
    assert recipe.train.class_weights == (1.0, 2.0, 3.0, 4.0, 5.0)


@pytest.mark.parametrize(
    "loss, weights, precision",
    [
        ("ohem", "median_frequency", "float32"),
        ("cross_entropy_dice", "inverse_sqrt", "float32"),
        ("cross_entropy", "median_frequency", "mixed_bfloat16"),
    ],
)
def test_each_loss_trains_under_mirrored_strategy(
    folder_shards, two_replicas, tmp_path, loss, weights, precision
):
    from tfdeeplab.experiment import train

    recipe = custom_recipe(
        folder_shards,
        "train.max_steps=2",
        f"train.loss={loss}",
        f"train.class_weights={weights}",
        f"train.mixed_precision={precision}",
        "train.ohem_min_kept=200",
    )
    summary = train(recipe, tmp_path / "run", strategy=two_replicas, progress=False,
                    log=lambda line: None)  # fmt: skip
    assert summary.end_step == 2 and summary.replicas == 2
    assert np.isfinite(summary.final_loss)
