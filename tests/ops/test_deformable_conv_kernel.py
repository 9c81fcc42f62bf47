"""The C++ deformable convolution against the reference: values, four gradients,
blocks, NaN safety, dispatch, and a DCN model trained by both."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import random_case, tiny, tiny_model
from tfdeeplab.models import build_model
from tfdeeplab.ops.deformable_conv import (
    deformable_conv2d,
    deformable_conv2d_custom_op,
    deformable_conv2d_reference,
    resolve_implementation,
    set_deformable_implementation,
)
from tools.deform_cases import CASES


def values_and_gradients(convolve, tensors, options, **extra):
    """Output and the gradients of a non-linear loss wrt every input."""
    names = sorted(tensors)
    with tf.GradientTape() as tape:
        tape.watch([tensors[name] for name in names])
        out = convolve(**tensors, **options, **extra)
        loss = tf.reduce_sum(out * tf.sin(out))
    grads = tape.gradient(loss, [tensors[name] for name in names])
    return out.numpy(), {name: g.numpy() for name, g in zip(names, grads, strict=True)}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("block_bytes", [64 << 20, 500])  # one block; many blocks
def test_the_custom_op_equals_the_reference_float64(case, block_bytes):
    tensors, options = random_case(sum(case) + block_bytes % 7, *case)
    custom = values_and_gradients(
        deformable_conv2d_custom_op, tensors, options, block_bytes=block_bytes
    )
    reference = values_and_gradients(deformable_conv2d_reference, tensors, options)
    np.testing.assert_allclose(custom[0], reference[0], rtol=1e-10, atol=1e-10)
    assert set(custom[1]) == set(tensors)  # every input has its gradient
    for name in tensors:
        np.testing.assert_allclose(
            custom[1][name], reference[1][name], rtol=1e-9, atol=1e-9, err_msg=name
        )


def test_integer_offsets_match_too():
    tensors, options = random_case(3, 2, 8, 9, 4, 3, 1, 1, 2, 2, True)
    tensors["offsets"] = tf.round(tensors["offsets"])
    custom = values_and_gradients(deformable_conv2d_custom_op, tensors, options)
    reference = values_and_gradients(deformable_conv2d_reference, tensors, options)
    np.testing.assert_allclose(custom[0], reference[0], rtol=1e-10, atol=1e-10)
    for name in tensors:  # at the kinks, both take the right-hand derivative
        np.testing.assert_allclose(
            custom[1][name], reference[1][name], rtol=1e-9, atol=1e-9, err_msg=name
        )


def test_float32_within_tolerance():
    tensors, options = random_case(5, 2, 21, 21, 32, 16, 1, 2, 2, 4, True, np.float32)
    custom = values_and_gradients(deformable_conv2d_custom_op, tensors, options)
    reference = values_and_gradients(deformable_conv2d_reference, tensors, options)
    assert custom[0].dtype == np.float32
    np.testing.assert_allclose(custom[0], reference[0], rtol=1e-4, atol=1e-4)
    for name in tensors:
        scale = np.abs(reference[1][name]).max()
        np.testing.assert_allclose(
            custom[1][name], reference[1][name], atol=2e-5 * scale, err_msg=name
        )


def test_numeric_gradients_float64():
    tensors, options = random_case(7, 1, 5, 4, 2, 2, 1, 1, 1, 2, True, offset_range=0.4)
    # Keep samples off integer positions, where bilinear weights have kinks.
    tensors["offsets"] = tensors["offsets"] + 0.5
    names = ["inputs", "offsets", "kernel", "mask"]

    def function(*values):
        return deformable_conv2d_custom_op(
            **dict(zip(names, values, strict=True)), **options
        )

    theoretical, numerical = tf.test.compute_gradient(
        function, [tensors[name] for name in names], delta=1e-6
    )
    for name, analytic, numeric in zip(names, theoretical, numerical, strict=True):
        np.testing.assert_allclose(
            analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("implementation", ["custom_op", "reference"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_offsets_or_mask_give_nan_not_a_crash(implementation, bad):
    tensors, options = random_case(11, 2, 6, 7, 4, 3, 1, 1, 1, 2, True, np.float32)
    offsets = tensors["offsets"].numpy()
    offsets[1, 2, 3, 5] = bad  # one tap of one pixel of the second image
    mask = tensors["mask"].numpy()
    mask[0, 0, 0, 0] = np.nan
    tensors.update(offsets=tf.constant(offsets), mask=tf.constant(mask))
    out, grads = values_and_gradients(
        deformable_conv2d, tensors, options, implementation=implementation
    )
    assert np.isnan(out[1, 2, 3]).all() and np.isnan(out[0, 0, 0]).all()
    untouched = np.ones(out.shape[:3], bool)
    untouched[1, 2, 3] = untouched[0, 0, 0] = False
    assert np.isfinite(out[untouched]).all()
    assert not np.isfinite(grads["kernel"]).all()  # the NaN reaches the update


@pytest.mark.parametrize("implementation", ["custom_op", "reference"])
def test_huge_finite_offsets_sample_nothing(implementation):
    tensors, options = random_case(12, 1, 5, 5, 2, 2, 1, 1, 1, 1, False, np.float32)
    tensors["offsets"] = tf.fill(tensors["offsets"].shape, 3e38)
    out = deformable_conv2d(**tensors, **options, implementation=implementation)
    np.testing.assert_array_equal(out.numpy(), 0.0)


def test_auto_takes_the_custom_op_on_a_cpu_and_the_reference_elsewhere():
    assert resolve_implementation("auto", tf.float32) == "custom_op"
    assert resolve_implementation("auto", tf.float64) == "custom_op"
    assert resolve_implementation("auto", tf.float16) == "reference"
    assert resolve_implementation("reference", tf.float32) == "reference"

    # Under XLA `auto` takes the reference: the custom op has no XLA kernel, so
    # compiling would fail if it were chosen.
    tensors, options = random_case(2, 1, 6, 6, 2, 2, 1, 1, 1, 1, True, np.float32)
    compiled = tf.function(
        lambda: deformable_conv2d(**tensors, **options), jit_compile=True
    )
    np.testing.assert_allclose(
        compiled().numpy(),
        deformable_conv2d_reference(**tensors, **options).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="one of auto, custom_op, reference"):
        resolve_implementation("cuda", tf.float32)


def test_a_broken_compiler_falls_back_to_the_reference_with_one_warning(tmp_path):
    compiler = tmp_path / "broken-cxx"
    compiler.write_text(
        "#!/bin/sh\necho 'x.cc:1:1: error: the compiler is broken' >&2"
        "\necho 'second line' >&2\nexit 1\n"
    )
    compiler.chmod(0o755)
    code = textwrap.dedent(
        """
        import tensorflow as tf
        from tfdeeplab.ops.deformable_conv import deformable_conv2d
        x = tf.ones([1, 4, 4, 2])
        for _ in range(3):
            y = deformable_conv2d(x, tf.zeros([1, 4, 4, 18]), tf.ones([3, 3, 2, 1]),
                                  padding=1)
        print("sum", float(tf.reduce_sum(y)))
        """
    )
    env = {
        "CXX": str(compiler),
        "TFDEEPLAB_OP_CACHE": str(tmp_path / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # 2 channels x 10 x 10: a pixel of a 4-long axis is in 2, 3, 3, 2 windows.
    assert "sum 200.0" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "unavailable" in line]
    assert len(warnings) == 1, done.stderr
    assert "error: the compiler is broken" in warnings[0]
    assert "second line" not in done.stderr


def test_a_dcn_model_trains_to_the_same_weights_with_either_implementation():
    config = tiny(tiny_model(), deformable_units=("res5a", "res5b"))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(0, 1, (2, 33, 33, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, 5, (2, 33, 33)), tf.int32)
    updates = {}
    for implementation in ("custom_op", "reference"):
        keras.utils.set_random_seed(1)
        model = build_model(config)
        assert set_deformable_implementation(model, implementation) == 2
        initial = [v.numpy() for v in model.trainable_variables]
        optimizer = keras.optimizers.SGD(0.01)
        for _ in range(3):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                logits = tf.image.resize(logits, [33, 33])
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                )
            variables = model.trainable_variables
            optimizer.apply_gradients(
                zip(tape.gradient(loss, variables), variables, strict=True)
            )
        updates[implementation] = {
            v.path: v.numpy() - start
            for v, start in zip(model.trainable_variables, initial, strict=True)
        }
    # The updates agree variable by variable, to float32 noise of their own size;
    # the offset convolutions (trained only through the offset gradient) included.
    offset_updates = [name for name in updates["reference"] if "offset" in name]
    assert offset_updates
    for name, reference in updates["reference"].items():
        custom = updates["custom_op"][name]
        scale = np.abs(reference).max()
        if "offset" in name:
            assert scale > 0, name
        np.testing.assert_allclose(
            custom, reference, atol=1e-3 * scale + 1e-9, err_msg=name
        )
