"""A distributed step equals the same step computed by hand on one device."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdeeplab.config import TrainConfig
from tfdeeplab.models import build_model, weight_multipliers
from tfdeeplab.training.builder import build_optimizer
from tfdeeplab.training.losses import segmentation_loss
from tfdeeplab.training.optimizer import scale_gradients
from tfdeeplab.training.step import TrainStep

LR, WD = 0.05, 5e-3


def global_batch(seed=0, size=4):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(size, 33, 33, 3)).astype("float32")
    labels = rng.integers(0, 5, size=(size, 33, 33)).astype("int32")
    labels[0, :5] = 255  # replicas see different numbers of valid pixels
    return images, labels


def assert_same_update(names, start, expected, got, tolerance):
    """Every weight's update (weights minus `start`) agrees with the expected one
    within `tolerance` of that weight's own update norm; unmoved weights stay put."""
    moved = 0
    for name, w0, want, have in zip(names, start, expected, got, strict=True):
        expected_step = want.astype("float64") - w0
        got_step = have.astype("float64") - w0
        scale = np.linalg.norm(expected_step)
        if scale == 0:
            np.testing.assert_array_equal(got_step, 0, err_msg=name)
            continue
        moved += 1
        error = np.linalg.norm(got_step - expected_step)
        assert error <= tolerance * scale, f"{name}: off by {error / scale:.2e}"
    assert moved


def reference_step(model, optimizer, images, labels, reduction):
    """The seed's update on one device: per-half mean losses, summed or averaged."""
    multipliers = weight_multipliers(model)
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        halves = [
            segmentation_loss(labels[i : i + 2], model(images[i : i + 2]))
            for i in (0, 2)
        ]
        loss = tf.add_n(halves)
        if reduction == "mean":
            loss = loss / 2
    gradients = tape.gradient(loss, variables)
    scaled = scale_gradients(gradients, variables, multipliers, WD)
    optimizer.apply_gradients(zip(scaled, variables, strict=True))


def distributed_steps(
    strategy, config, weights, batches, reduction, policy="float32", **options
):
    with strategy.scope():
        model = build_model(config, dtype_policy=policy)
        model.set_weights(weights)
        # float64 is a model policy for exact comparisons, not a recipe precision.
        precision = policy if policy.startswith("mixed") else "float32"
        train = TrainConfig(momentum=0.9, mixed_precision=precision)
        optimizer = build_optimizer(train, LR)
        optimizer.build(model.trainable_variables)
    step = TrainStep(
        strategy,
        model,
        optimizer,
        weight_multipliers(model),
        weight_decay=WD,
        gradient_reduction=reduction,
        **options,
    )
    losses = []
    for images, labels in batches:
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
        losses.append(float(step(batch)))
    # Dynamic loss scaling skips a step whose scaled gradients overflow.
    assert int(optimizer.iterations.numpy()) == len(batches), "a step was skipped"
    return model, losses


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_two_replicas_equal_one_device_with_the_same_global_batch(
    tiny_model_config, reduction, two_replicas
):
    # In float64, so that only the distribution logic can make a difference: in
    # float32 the replicas' different summation orders measured 1e-6 here and
    # 8e-4 on another CPU after two steps.
    reference = build_model(tiny_model_config, dtype_policy="float64")
    weights = reference.get_weights()
    optimizer = build_optimizer(TrainConfig(momentum=0.9), LR)
    batches = [global_batch(0), global_batch(1)]
    for images, labels in batches:
        reference_step(reference, optimizer, images, labels, reduction)

    strategy = two_replicas
    model, _ = distributed_steps(
        strategy, tiny_model_config, weights, batches, reduction, policy="float64"
    )
    names = [weight.path for weight in model.weights]
    assert_same_update(
        names, weights, reference.get_weights(), model.get_weights(), 1e-9
    )
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(weights, reference.get_weights(), strict=True)
    ]
    assert any(moved)


def test_sum_reduction_takes_twice_the_mean_step(tiny_model_config, two_replicas):
    reference = build_model(tiny_model_config, dtype_policy="float64")
    weights = reference.get_weights()
    strategy = two_replicas
    deltas = {}
    for reduction in ("sum", "mean"):
        # No decay difference: compare the gradient part of the head bias update.
        model, _ = distributed_steps(
            strategy,
            tiny_model_config,
            weights,
            [global_batch()],
            reduction,
            policy="float64",
        )
        before = reference.get_layer("score").bias.numpy()
        deltas[reduction] = model.get_layer("score").bias.numpy() - before
    np.testing.assert_allclose(deltas["sum"], 2 * deltas["mean"], rtol=1e-9)


@pytest.mark.parametrize(
    "options, tolerance",
    [
        ({"jit_compile": True}, 1e-2),
        ({"policy": "mixed_float16"}, 5e-2),
        ({"policy": "mixed_bfloat16"}, 1e-1),
        ({"policy": "mixed_bfloat16", "jit_compile": True}, 1e-1),
    ],
    ids=["xla", "float16", "bfloat16", "bfloat16-xla"],
)
def test_xla_and_mixed_precision_steps_match_the_float32_step(
    tiny_model_config, options, tolerance
):
    keras.utils.set_random_seed(0)  # initial weights whose float16 grads fit
    reference = build_model(tiny_model_config)
    weights = reference.get_weights()
    strategy = tf.distribute.get_strategy()
    batches = [global_batch(0), global_batch(1)]
    plain, plain_losses = distributed_steps(
        strategy, tiny_model_config, weights, batches, "sum"
    )
    compiled, compiled_losses = distributed_steps(
        strategy, tiny_model_config, weights, batches, "sum", **options
    )
    np.testing.assert_allclose(compiled_losses, plain_losses, rtol=tolerance / 10)
    names = [weight.path for weight in plain.weights]
    assert_same_update(
        names, weights, plain.get_weights(), compiled.get_weights(), tolerance
    )
