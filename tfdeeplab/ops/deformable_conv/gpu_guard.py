"""The guard that keeps a GPU run from depending on our CUDA kernels being right.

The first time a process would run the deformable convolution's GPU kernels for a
dtype, `GpuKernelGuard.usable(dtype)` compiles them (once for every dtype) and
compares them with the reference on a small random case on the GPU: the output and
the gradients of input, offsets, kernel and mask. On a compile failure, a launch
failure or a mismatch it warns once, in one line naming the cause, and says no for
the rest of the process, so `implementation="auto"` takes the reference there.

    guard = GpuKernelGuard()
    guard.usable(tf.bfloat16)   # False after one warning when they fail the check
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfdeeplab.ops.deformable_conv.gpu import prepare_gpu_kernels
from tfdeeplab.ops.deformable_conv.kernel import deformable_conv2d_custom_op
from tfdeeplab.ops.deformable_conv.reference import (
    deformable_conv2d_reference,
    output_size,
)
from tfdeeplab.ops.op_cache import OpBuildError

_log = logging.getLogger(__name__)

# Largest difference allowed, relative to the largest magnitude of each result:
# float64 agrees to rounding, the others within a few roundings of their type.
TOLERANCES = {"float64": 1e-9, "float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}


def check_case(seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The guard's case: 2 images of 7x7 with 80 channels in 2 deformable groups
    (40 channels each: a whole warp of lanes, some twice), 3x3 taps with dilation 2,
    offsets up to 3.5 pixels (samples past every border) and a mask."""
    rng = np.random.default_rng(seed)
    n, h, w, c, o, groups = 2, 7, 7, 80, 8, 2
    options = {"strides": 1, "padding": 2, "dilation": 2, "deformable_groups": groups}
    ho, wo = (output_size(size, 3, 1, 2, 2) for size in (h, w))
    arrays = {
        "inputs": rng.normal(size=(n, h, w, c)),
        "offsets": rng.uniform(-3.5, 3.5, size=(n, ho, wo, 2 * groups * 9)),
        "kernel": rng.normal(size=(3, 3, c, o)) / np.sqrt(9 * c),
        "mask": rng.uniform(0, 1, size=(n, ho, wo, groups * 9)),
        "upstream": rng.normal(size=(n, ho, wo, o)),
    }
    return arrays, options


def _values_and_gradients(convolve, tensors, options):
    """Output and the four gradients, as float64 arrays. A graph of its own, with
    `tf.gradients`: the guard runs under `tf.init_scope`, which pauses tapes."""

    @tf.function(autograph=False)
    def run(inputs, offsets, kernel, mask, upstream):
        out = convolve(inputs, offsets, kernel, mask=mask, **options)
        grads = tf.gradients(out, [inputs, offsets, kernel, mask], grad_ys=upstream)
        return [out, *grads]

    names = ("inputs", "offsets", "kernel", "mask", "upstream")
    results = run(*(tensors[name] for name in names))
    keys = ("out", "grad_inputs", "grad_offsets", "grad_kernel", "grad_mask")
    return {
        key: tf.cast(value, tf.float64).numpy()
        for key, value in zip(keys, results, strict=True)
    }


def compare_with_reference(dtype: tf.DType, device: str = "/GPU:0") -> str:
    """Run the custom op and the reference on `check_case()` on `device`; the first
    result that differs by more than its tolerance, or the empty string.

    The reference runs in float64 on the case's values rounded to `dtype`, so only
    the kernels' own rounding counts.

    Raises:
        tf.errors.OpError: the kernels failed to launch.

    Example:
        >>> compare_with_reference(tf.float32)
        ''
    """
    dtype = tf.as_dtype(dtype)
    arrays, options = check_case()
    with tf.init_scope(), tf.device(device):
        cast = {
            key: tf.cast(tf.constant(value), dtype) for key, value in arrays.items()
        }
        found = _values_and_gradients(deformable_conv2d_custom_op, cast, options)
        exact = {key: tf.cast(value, tf.float64) for key, value in cast.items()}
        expected = _values_and_gradients(deformable_conv2d_reference, exact, options)
    tolerance = TOLERANCES[dtype.name]
    for name, want in expected.items():
        scale = max(float(np.abs(want).max()), 1e-30)
        difference = float(np.abs(found[name] - want).max() / scale)
        if not difference <= tolerance:  # NaN fails too
            return (
                f"{name} differs from the reference by {difference:.2g} of its "
                f"largest value (tolerance {tolerance:g})"
            )
    return ""


class GpuKernelGuard:
    """Decides, once per dtype and process, whether the GPU kernels are used.

    Args:
        prepare: compiles and registers the kernels; raises OpBuildError on failure.
            Defaults to `gpu.prepare_gpu_kernels`.
        compare: `dtype -> problem or ""`; may raise tf.errors.OpError (a launch
            failure). Defaults to `compare_with_reference`.
        warn: where the one-line warning goes. Defaults to this module's logger.

    Example:
        >>> GpuKernelGuard(compare=lambda dtype: "out differs").usable(tf.float32)
        False
    """

    def __init__(
        self,
        prepare: Callable[[], object] = prepare_gpu_kernels,
        compare: Callable[[tf.DType], str] = compare_with_reference,
        warn: Callable[[str], None] | None = None,
    ):
        self._prepare = prepare
        self._compare = compare
        self._warn = warn if warn is not None else _log.warning
        self._prepared: str | None = None  # None: not tried; "": ready; else why not
        self._decisions: dict[str, bool] = {}

    def usable(self, dtype: tf.DType) -> bool:
        """True when the GPU kernels built and passed the check for `dtype`."""
        name = tf.as_dtype(dtype).name
        if name not in TOLERANCES:
            return False
        if name not in self._decisions:
            self._decisions[name] = self._decide(name)
        return self._decisions[name]

    def _decide(self, name: str) -> bool:
        if self._prepared is None:
            try:
                self._prepare()
                self._prepared = ""
            except OpBuildError as error:
                self._prepared = str(error)
                self._warn(
                    "deformable_conv GPU kernels unavailable, this process uses the "
                    f"TensorFlow reference: {error}"
                )
        if self._prepared:
            return False  # warned once above, for every dtype
        try:
            problem = self._compare(tf.as_dtype(name))
        except tf.errors.OpError as error:
            message = (error.message or type(error).__name__).strip().splitlines()[0]
            problem = f"the kernels failed on the GPU: {message}"
        if problem:
            self._warn(
                f"deformable_conv GPU kernels failed their check for {name}, this "
                f"process uses the TensorFlow reference: {problem}"
            )
        return not problem


@functools.cache
def process_guard() -> GpuKernelGuard:
    """The guard of this process (what `implementation="auto"` asks)."""
    return GpuKernelGuard()
