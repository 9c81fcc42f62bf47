"""The GPU side of the deformable conv op, on a machine without a GPU: the library
registers GPU kernels for both ops, images reach it by architecture, the guard's
decisions (compiler and launch replaced by fakes) and `auto`'s choice on a GPU."""

import ctypes

import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels as registered

from tfdeeplab.ops.cuda_compile import CudaCompileError
from tfdeeplab.ops.deformable_conv import dispatch, gpu, gpu_guard
from tfdeeplab.ops.deformable_conv.reference import deformable_conv2d_reference
from tfdeeplab.ops.op_cache import OpBuildError, build_op_library, load_op, op_sources

GPU_TYPES = {tf.float16, tf.bfloat16, tf.float32, tf.float64}


@pytest.mark.parametrize(
    "op, host_inputs",
    [
        ("TfdeeplabDeformableIm2col", ["start", "count"]),
        ("TfdeeplabDeformableIm2colGrad", ["start"]),
    ],
)
def test_the_library_registers_a_gpu_kernel_of_each_op_for_every_float_type(
    op, host_inputs
):
    load_op("deformable_conv")
    found = registered.get_registered_kernels_for_op(op).kernel
    gpu_kernels = [kernel for kernel in found if kernel.device_type == "GPU"]
    types = {
        tf.as_dtype(kernel.constraint[0].allowed_values.list.type[0])
        for kernel in gpu_kernels
    }
    assert types == GPU_TYPES
    assert all(list(kernel.host_memory_arg) == host_inputs for kernel in gpu_kernels)
    cpu_types = {
        tf.as_dtype(kernel.constraint[0].allowed_values.list.type[0])
        for kernel in found
        if kernel.device_type == "CPU"
    }
    assert cpu_types == {tf.float32, tf.float64}  # the CPU kernels are unchanged


def test_images_reach_the_loaded_library_by_architecture():
    load_op("deformable_conv")
    library = ctypes.CDLL(
        str(build_op_library(op_sources("deformable_conv"), "deformable_conv"))
    )
    names = ctypes.create_string_buffer(256)
    # An architecture no GPU has, so a real GPU in this process keeps its image.
    assert library.TfdeeplabDeformableRegisterImage(11, b"", 0) == 1  # empty: refused
    gpu._register_in_library(11, b"\x7fELF not really")
    library.TfdeeplabDeformableRegisteredImages(names, 256)
    assert "sm_11" in names.value.decode().split(", ")


class FakeCompiler:
    identity = "fake 1.0"

    def supported_archs(self):
        return [70, 80, 90]

    def compile(self, source, name, target, options=()):
        assert "deformable_im2col_grad_" in source
        return f"{target.name}".encode()


def test_each_gpu_gets_the_image_of_its_architecture(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDEEPLAB_OP_CACHE", str(tmp_path))
    registered_images = {}
    images = gpu.register_images(
        [90, 86, 120, 90], FakeCompiler(), register=registered_images.__setitem__
    )
    assert registered_images == {86: b"sm_80", 90: b"sm_90", 120: b"compute_90"}
    assert images[120].suffix == ".ptx" and images[86].suffix == ".cubin"
    with pytest.raises(CudaCompileError, match="sm_60"):
        gpu.register_images(
            [60], FakeCompiler(), register=registered_images.__setitem__
        )


class Warnings(list):
    def __call__(self, message):
        assert "\n" not in message
        self.append(message)


def test_the_guard_passes_kernels_that_match_once_per_dtype():
    compared, warnings = [], Warnings()
    guard = gpu_guard.GpuKernelGuard(
        prepare=lambda: None,
        compare=lambda dtype: compared.append(dtype) or "",
        warn=warnings,
    )
    assert guard.usable(tf.float32) and guard.usable(tf.float32)
    assert guard.usable(tf.bfloat16)
    assert compared == [tf.float32, tf.bfloat16] and not warnings
    assert not guard.usable(tf.int32)  # no kernel for it: never compared
    assert compared == [tf.float32, tf.bfloat16]


def test_a_mismatch_warns_once_naming_it_and_keeps_the_reference():
    warnings = Warnings()
    guard = gpu_guard.GpuKernelGuard(
        prepare=lambda: None,
        compare=lambda dtype: (
            "grad_offsets differs from the reference by 0.3"
            if dtype == tf.float16
            else ""
        ),
        warn=warnings,
    )
    assert not guard.usable(tf.float16) and not guard.usable(tf.float16)
    assert guard.usable(tf.float32)
    (warning,) = warnings
    assert "failed their check for float16" in warning
    assert warning.endswith("grad_offsets differs from the reference by 0.3")


def test_a_compile_failure_warns_once_for_every_dtype():
    warnings, compared = Warnings(), []

    def prepare():
        raise CudaCompileError("deformable_conv_kernels.cu for sm_90: NVRTC: error X")

    guard = gpu_guard.GpuKernelGuard(
        prepare=prepare, compare=compared.append, warn=warnings
    )
    for dtype in (tf.float32, tf.bfloat16, tf.float16, tf.float32):
        assert not guard.usable(dtype)
    (warning,) = warnings
    assert "unavailable" in warning and warning.endswith("NVRTC: error X")
    assert compared == []


def test_a_launch_failure_warns_with_its_first_line():
    warnings = Warnings()

    def compare(dtype):
        raise tf.errors.InternalError(
            None, None, "deformable_conv GPU kernel: launching x failed: bad\nmore"
        )

    guard = gpu_guard.GpuKernelGuard(
        prepare=lambda: None, compare=compare, warn=warnings
    )
    assert not guard.usable(tf.float32)
    (warning,) = warnings
    assert warning.endswith(
        "the kernels failed on the GPU: deformable_conv GPU "
        "kernel: launching x failed: bad"
    )


def test_the_check_itself_passes_the_cpu_kernels_and_catches_a_wrong_one(monkeypatch):
    """`compare_with_reference` run for real, on the CPU kernels."""
    for dtype in (tf.float64, tf.float32):
        assert gpu_guard.compare_with_reference(dtype, device="/CPU:0") == ""

    def wrong(inputs, offsets, kernel, **options):
        return deformable_conv2d_reference(inputs, offsets * 1.01, kernel, **options)

    monkeypatch.setattr(gpu_guard, "deformable_conv2d_custom_op", wrong)
    problem = gpu_guard.compare_with_reference(tf.float32, device="/CPU:0")
    assert problem.startswith("out differs from the reference by ")
    assert problem.endswith("(tolerance 0.0001)")


class FixedGuard:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def usable(self, dtype):
        self.asked.append(dtype)
        return self.answer


def test_auto_on_a_gpu_takes_the_kernels_that_passed_the_guard(monkeypatch):
    monkeypatch.setattr(dispatch, "_gpu_visible", lambda: True)
    passed, failed = FixedGuard(True), FixedGuard(False)
    for dtype in GPU_TYPES:
        assert dispatch.resolve_implementation("auto", dtype, passed) == "custom_op"
        assert dispatch.resolve_implementation("auto", dtype, failed) == "reference"
    assert dispatch.resolve_implementation("auto", tf.int32, passed) == "reference"
    assert (
        dispatch.resolve_implementation("reference", tf.float32, passed) == "reference"
    )
    assert tf.int32 not in passed.asked

    @tf.function(jit_compile=True)
    def under_xla():
        return tf.constant(
            dispatch.resolve_implementation("auto", tf.float32, passed) == "reference"
        )

    assert bool(under_xla())  # XLA compiles the reference, never our op


def test_auto_without_a_gpu_is_unchanged(monkeypatch):
    # The machine may have a GPU: the case under test is the one without.
    monkeypatch.setattr(dispatch, "_gpu_visible", lambda: False)
    assert dispatch.resolve_implementation("auto", tf.float32, FixedGuard(False)) == (
        "custom_op"
    )
    assert dispatch.resolve_implementation("auto", tf.bfloat16) == "reference"


def test_a_failed_preparation_is_remembered(monkeypatch):
    calls = []

    def failing(capabilities):
        calls.append(capabilities)
        raise OpBuildError("no NVRTC: pip install nvidia-cuda-nvrtc-cu12")

    gpu._prepared.cache_clear()
    monkeypatch.setattr(gpu, "register_images", failing)
    monkeypatch.setattr(gpu, "visible_gpu_capabilities", lambda: [90])
    try:
        for _ in range(2):
            with pytest.raises(OpBuildError, match="no NVRTC"):
                gpu.prepare_gpu_kernels()
        assert calls == [[90]]
    finally:
        gpu._prepared.cache_clear()


def test_the_check_runs_eagerly_when_the_first_call_is_being_traced():
    warnings = Warnings()
    guard = gpu_guard.GpuKernelGuard(
        prepare=lambda: None,
        compare=lambda dtype: gpu_guard.compare_with_reference(dtype, "/CPU:0"),
        warn=warnings,
    )

    @tf.function
    def traced(x):
        return x * (1.0 if guard.usable(tf.float32) else -1.0)

    assert float(traced(tf.constant(2.0))) == 2.0
    assert not warnings
