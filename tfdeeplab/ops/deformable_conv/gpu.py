"""The CUDA images of the deformable im2col kernels, compiled for the GPUs found.

`deformable_conv_kernels.cu` is compiled by NVRTC (`tfdeeplab.ops.cuda_compile`)
into a cubin for each visible GPU's architecture, cached on disk, and handed to the
op library (`deformable_conv_gpu.cc`, through its `TfdeeplabDeformableRegisterImage`),
which loads it into each CUDA context on the first launch there. On a machine
without a GPU nothing here runs, except `compile_images` for `python -m
tfdeeplab.ops.build --gpu-archs`.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab.ops.cuda_compile import (
    DEFAULT_OPTIONS,
    CudaTarget,
    compile_for_gpus,
    cuda_compiler,
    cuda_image,
    visible_gpu_capabilities,
)
from tfdeeplab.ops.op_cache import OpBuildError, build_op_library, op_sources

OP_NAME = "deformable_conv"
CUDA_SOURCE = Path(__file__).with_name("deformable_conv_kernels.cu")
NVRTC_OPTIONS = DEFAULT_OPTIONS


def compile_images(targets: Sequence[CudaTarget], compiler=None) -> dict[str, Path]:
    """The cached image of the kernels for each target (compiling what is missing).

    Raises:
        CudaCompileError: the source does not compile for a target.
    """
    compiler = compiler or cuda_compiler()
    return {
        target.name: cuda_image(CUDA_SOURCE, target, compiler, NVRTC_OPTIONS)
        for target in targets
    }


def _register_in_library(arch: int, image: bytes) -> None:
    library = ctypes.CDLL(str(build_op_library(op_sources(OP_NAME), OP_NAME)))
    if library.TfdeeplabDeformableRegisterImage(arch, image, len(image)) != 0:
        raise OpBuildError(f"the op library refused the sm_{arch} image")


def register_images(
    capabilities: Sequence[int],
    compiler=None,
    register: Callable[[int, bytes], None] = _register_in_library,
) -> dict[int, Path]:
    """Compile the kernels for each GPU architecture and hand the images to the op
    library.

    Args:
        capabilities: the GPUs' compute capabilities
            (`cuda_compile.visible_gpu_capabilities`).
        compiler: a `cuda_compile` compiler; defaults to NVRTC (else nvcc).
        register: `(capability, image bytes) -> None`; defaults to the op
            library's `TfdeeplabDeformableRegisterImage` (tests pass a fake).

    Returns:
        The image registered for each capability.

    Raises:
        OpBuildError: no compiler, a compile error, or an unsupported GPU.
    """
    images = compile_for_gpus(CUDA_SOURCE, capabilities, compiler, NVRTC_OPTIONS)
    for capability, image in images.items():
        register(capability, image.read_bytes())
    return images


@functools.cache
def _prepared() -> tuple[dict[int, Path] | None, OpBuildError | None]:
    try:
        return register_images(visible_gpu_capabilities()), None
    except OpBuildError as error:
        return None, error


def prepare_gpu_kernels() -> dict[int, Path]:
    """`register_images` for the visible GPUs, once per process: a failure is
    remembered and raised again without compiling again.

    Raises:
        OpBuildError: as `register_images`.

    Example:
        >>> prepare_gpu_kernels()   # one H200
        {90: PosixPath('.../deformable_conv_kernels-...-sm_90.cubin')}
    """
    images, error = _prepared()
    if error is not None:
        raise error
    return images
