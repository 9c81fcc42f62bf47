"""The CUDA kernels' source, run on the CPU: `deformable_conv_kernels.cu` compiled as
C++ against `cuda_emulation.h` gives the columns and the three gradients of the C++
CPU kernels (which match torchvision to 1e-14), for every border case, blocks, NaN
offsets and every storage type, and drives a whole convolution to the reference.

What this cannot check is the GPU itself (warp shuffles: the gradient runs with one
lane per item here, atomics from many threads, the PTX conversions):
`tools/deformable_gpu_check.py` does, on a machine with a GPU.
"""

import ctypes
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import random_case
from tfdeeplab.ops.deformable_conv import deformable_conv2d_reference
from tfdeeplab.ops.deformable_conv.cuda_launch import (
    GEOMETRY_FIELDS,
    blocked_deformable_conv,
    cuda_geometry,
    launch_threads,
)
from tfdeeplab.ops.op_cache import OPS_DIRECTORY, load_op
from tools.deform_cases import CASES

HERE = __import__("pathlib").Path(__file__).resolve().parent
SOURCE = OPS_DIRECTORY / "deformable_conv" / "deformable_conv_kernels.cu"


class Geometry(ctypes.Structure):
    _fields_ = [(name, ctypes.c_longlong) for name in GEOMETRY_FIELDS]


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    library = tmp_path_factory.mktemp("emulated") / "kernels.so"
    command = [
        "g++",
        "-std=c++17",
        "-O1",
        "-shared",
        "-fPIC",
        "-Wall",
        "-Werror",
        f"-I{HERE}",
        f'-DDEFORMABLE_KERNELS_SOURCE="{SOURCE}"',
        str(HERE / "cuda_emulation_launch.cc"),
        "-o",
        str(library),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(library))
    lib.emulated_half_to_float.restype = ctypes.c_float
    lib.emulated_half_to_float.argtypes = [ctypes.c_ushort]
    return lib


STORAGE = {  # our dtype name: (numpy storage, kernel suffix)
    "float64": (np.float64, "f64"),
    "float32": (np.float32, "f32"),
    "float16": (np.float16, "f16"),
    "bfloat16": (np.uint16, "bf16"),
}


def to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, rounding to nearest even (TensorFlow's rounding)."""
    return tf.bitcast(
        tf.cast(values.astype(np.float32), tf.bfloat16), tf.uint16
    ).numpy()


def from_storage(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float64)


def to_storage(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return to_bf16_bits(values)
    return np.ascontiguousarray(values.astype(STORAGE[dtype][0]))


def pointer(array):
    return array.ctypes.data_as(ctypes.c_void_p) if array is not None else None


def block_geometry(arrays, options, start, count, lanes):
    inputs, _, mask = arrays
    return cuda_geometry(
        inputs.shape,
        (3, 3),
        options["strides"],
        options["padding"],
        options["dilation"],
        options["deformable_groups"],
        mask is not None,
        start,
        count,
        lanes=lanes,
    )


def emulated_columns(kernels, arrays, options, start, count, dtype, lanes=1):
    inputs, offsets, mask = arrays
    geometry = block_geometry(arrays, options, start, count, lanes)
    storage, suffix = STORAGE[dtype]
    columns = np.full((count, 9 * inputs.shape[3]), 7, storage)
    getattr(kernels, f"run_im2col_{suffix}")(
        pointer(inputs),
        pointer(offsets),
        pointer(mask),
        pointer(columns),
        Geometry(**geometry),
        ctypes.c_longlong(launch_threads(geometry)),
    )
    return columns


def emulated_gradients(kernels, arrays, options, grad_columns, start, dtype):
    inputs, offsets, mask = arrays
    geometry = block_geometry(arrays, options, start, grad_columns.shape[0], lanes=1)
    storage, suffix = STORAGE[dtype]
    buffered = dtype in ("float16", "bfloat16")
    grad_input = np.zeros(inputs.shape, np.float32 if buffered else storage)
    grad_offsets = np.zeros(offsets.shape, storage)
    grad_mask = np.zeros(mask.shape, storage) if mask is not None else None
    getattr(kernels, f"run_im2col_grad_{suffix}")(
        pointer(inputs),
        pointer(offsets),
        pointer(mask),
        pointer(grad_columns),
        pointer(grad_input),
        pointer(grad_offsets),
        pointer(grad_mask),
        Geometry(**geometry),
        ctypes.c_longlong(launch_threads(geometry)),
    )
    if buffered:
        converted = np.zeros(inputs.shape, storage)
        getattr(kernels, f"run_convert_{suffix}")(
            pointer(grad_input),
            pointer(converted),
            ctypes.c_longlong(grad_input.size),
        )
        grad_input = converted
    return grad_input, grad_offsets, grad_mask


def cpu_op(tensors, options, start, count, grad_columns=None):
    """The C++ CPU kernels' columns, or gradients, for the same block."""
    ops = load_op("deformable_conv")
    mask = tensors.get("mask")
    attributes = {
        "kernel_size": [3, 3],
        "stride": options["strides"],
        "padding": options["padding"],
        "dilation": options["dilation"],
        "deformable_groups": options["deformable_groups"],
        "use_mask": mask is not None,
    }
    inputs, offsets = tensors["inputs"], tensors["offsets"]
    mask = tf.zeros([0], inputs.dtype) if mask is None else mask
    if grad_columns is None:
        return ops.tfdeeplab_deformable_im2col(
            inputs, offsets, mask, start, count, **attributes
        ).numpy()
    grads = ops.tfdeeplab_deformable_im2col_grad(
        inputs,
        offsets,
        mask,
        tf.constant(grad_columns, tf.float64),
        start,
        **attributes,
    )
    return [grad.numpy() for grad in grads]


def numpy_case(case, dtype="float64", seed=0, nan_at=None):
    tensors, options = random_case(seed, *case)
    arrays = {key: value.numpy() for key, value in tensors.items()}
    if nan_at is not None:
        arrays["offsets"][nan_at] = np.nan
    if dtype != "float64":  # the same (rounded) values for both sides
        arrays = {
            key: from_storage(to_storage(value, dtype), dtype).astype(np.float64)
            for key, value in arrays.items()
        }
    tensors = {key: tf.constant(value) for key, value in arrays.items()}
    stored = [
        to_storage(arrays[key], dtype) if key in arrays else None
        for key in ("inputs", "offsets", "mask")
    ]
    return tensors, options, stored


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("lanes", [1, 4, 32])
def test_columns_are_the_cpu_kernels(kernels, case, lanes):
    tensors, options, stored = numpy_case(case)
    pixels = int(np.prod(tensors["offsets"].shape[:3]))
    for start, count in [(0, pixels), (3, pixels - 5)]:
        expected = cpu_op(tensors, options, start, count)
        found = emulated_columns(
            kernels, stored, options, start, count, "float64", lanes
        )
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", CASES)
def test_gradients_are_the_cpu_kernels(kernels, case):
    tensors, options, stored = numpy_case(case)
    pixels = int(np.prod(tensors["offsets"].shape[:3]))
    rng = np.random.default_rng(1)
    start, count = 2, pixels - 3
    grad_columns = rng.normal(size=(count, 9 * case[3]))
    expected = cpu_op(tensors, options, start, count, grad_columns)
    found = emulated_gradients(kernels, stored, options, grad_columns, start, "float64")
    for name, want, got in zip(
        ("input", "offsets", "mask"), expected, found, strict=True
    ):
        if got is None:
            continue
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=name)
    # Pixels outside the block have no offset or mask gradient.
    assert not found[1].reshape(pixels, -1)[:start].any()
    assert not found[1].reshape(pixels, -1)[start + count :].any()


def test_non_finite_offsets_give_nan_where_the_cpu_kernels_do(kernels):
    case = (1, 6, 6, 4, 2, 1, 1, 1, 2, True)
    tensors, options, stored = numpy_case(case, nan_at=(0, 2, 3, 5))
    pixels = 36
    columns = emulated_columns(kernels, stored, options, 0, pixels, "float64", 4)
    np.testing.assert_array_equal(columns, cpu_op(tensors, options, 0, pixels))
    assert np.isnan(columns).sum() == 2  # tap 2 of group 0 (channels 0, 1), pixel 15
    grad_columns = np.random.default_rng(2).normal(size=(pixels, 36))
    expected = cpu_op(tensors, options, 0, pixels, grad_columns)
    found = emulated_gradients(kernels, stored, options, grad_columns, 0, "float64")
    for want, got in zip(expected, found, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        assert np.isnan(got).any()


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_every_storage_type_computes_in_float32(kernels, dtype):
    case = (2, 9, 7, 8, 3, 1, 2, 2, 2, True)
    tensors, options, stored = numpy_case(case, dtype)
    pixels = int(np.prod(tensors["offsets"].shape[:3]))
    expected = cpu_op(tensors, options, 0, pixels)
    columns = emulated_columns(kernels, stored, options, 0, pixels, dtype, 4)
    # One rounding of a float32 result to the storage type.
    tolerance = {"float32": 1e-6, "float16": 2e-3, "bfloat16": 1e-2}[dtype]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(
        from_storage(columns, dtype), expected, rtol=tolerance, atol=tolerance * scale
    )
    grad_columns = to_storage(
        np.random.default_rng(3).normal(size=columns.shape), dtype
    )
    want = cpu_op(tensors, options, 0, pixels, from_storage(grad_columns, dtype))
    found = emulated_gradients(kernels, stored, options, grad_columns, 0, dtype)
    for name, expected_grad, got in zip(
        ("input", "offsets", "mask"), want, found, strict=True
    ):
        scale = np.abs(expected_grad).max()
        np.testing.assert_allclose(
            from_storage(got, dtype),
            expected_grad,
            rtol=tolerance,
            atol=tolerance * scale,
            err_msg=name,
        )


def test_half_conversions_round_to_nearest_even_as_numpy(kernels):
    every_half = np.arange(65536, dtype=np.uint16)
    found = np.array([kernels.emulated_half_to_float(int(bits)) for bits in every_half])
    expected = every_half.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(found), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_array_equal(found[ok], expected[ok])

    rng = np.random.default_rng(4)
    floats = np.concatenate(
        [
            rng.normal(size=20000).astype(np.float32)
            * 10.0 ** rng.integers(-9, 6, 20000),
            # Ties and neighbours at both ends of the subnormals and at the top.
            np.float32([2**-25, 2**-25 * 1.0001, 3 * 2**-25, 2**-14, 65504, 65519.9]),
            np.float32([65520, 1e9, -1e9, np.inf, -np.inf, 0.0, -0.0]),
            (np.arange(1, 2049, dtype=np.float32) + 0.5) * 2**-10,  # exact ties
        ]
    ).astype(np.float32)
    halves = np.zeros(floats.size, np.float16)
    with np.errstate(over="ignore"):  # numpy warns where it rounds to infinity
        expected_halves = floats.astype(np.float16).view(np.uint16)
    kernels.run_convert_f16(
        pointer(floats), pointer(halves), ctypes.c_longlong(floats.size)
    )
    np.testing.assert_array_equal(halves.view(np.uint16), expected_halves)
    nan = np.zeros(1, np.float16)
    kernels.run_convert_f16(
        pointer(np.float32([np.nan])), pointer(nan), ctypes.c_longlong(1)
    )
    assert np.isnan(nan[0])


def test_bfloat16_conversion_rounds_as_tensorflow(kernels):
    rng = np.random.default_rng(5)
    floats = np.concatenate(
        [
            rng.normal(size=5000).astype(np.float32)
            * 10.0 ** rng.integers(-30, 30, 5000),
            np.float32([np.inf, -np.inf, 0.0, -0.0, 1 + 2**-8, 1 + 3 * 2**-8]),
        ]
    ).astype(np.float32)
    bits = np.zeros(floats.size, np.uint16)
    kernels.run_convert_bf16(
        pointer(floats), pointer(bits), ctypes.c_longlong(floats.size)
    )
    np.testing.assert_array_equal(bits, to_bf16_bits(floats))
    nan = np.zeros(1, np.uint16)
    kernels.run_convert_bf16(
        pointer(np.float32([np.nan])), pointer(nan), ctypes.c_longlong(1)
    )
    assert np.isnan(from_storage(nan, "bfloat16")[0])


def test_blocked_convolution_of_the_kernels_is_the_reference(kernels):
    """The block and GEMM arithmetic of kernel.py (and of the GPU check), around the
    emulated kernels: output and the four gradients equal the reference's."""
    case = (2, 10, 13, 4, 3, 1, 2, 2, 2, True)
    tensors, options, stored = numpy_case(case)
    kernel = tf.constant(np.random.default_rng(6).normal(size=(3, 3, 4, 3)))
    with tf.GradientTape() as tape:
        watched = [tensors["inputs"], tensors["offsets"], kernel, tensors["mask"]]
        tape.watch(watched)
        reference = deformable_conv2d_reference(
            tensors["inputs"],
            tensors["offsets"],
            kernel,
            mask=tensors["mask"],
            **options,
        )
    upstream = np.random.default_rng(7).normal(size=reference.shape)
    expected = tape.gradient(reference, watched, output_gradients=tf.constant(upstream))
    pixels = int(np.prod(reference.shape[:3]))
    row = 9 * 4
    outputs, (grad_kernel, grad_input, grad_offsets, grad_mask) = (
        blocked_deformable_conv(
            lambda start, count: emulated_columns(
                kernels, stored, options, start, count, "float64", 4
            ),
            lambda grad_columns, start: emulated_gradients(
                kernels,
                stored,
                options,
                np.ascontiguousarray(grad_columns),
                start,
                "float64",
            ),
            kernel.numpy().reshape(row, 3),
            upstream.reshape(pixels, 3),
            pixels,
            row_bytes=row * 8,
            block_bytes=row * 8 * 37,  # blocks of 37 pixels: 7 blocks, the last short
        )
    )
    np.testing.assert_allclose(
        np.concatenate(outputs).reshape(reference.shape), reference.numpy(), atol=1e-12
    )
    found = [grad_input, grad_offsets, grad_kernel.reshape(3, 3, 4, 3), grad_mask]
    for name, want, got in zip(
        ("input", "offsets", "kernel", "mask"), expected, found, strict=True
    ):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-11, err_msg=name)
