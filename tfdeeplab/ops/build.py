"""`python -m tfdeeplab.ops.build [--gpu-archs sm_70,sm_80,sm_90]`: fill the op
cache now.

Builds every op's library (`tfdeeplab.ops.op_cache`) and its CUDA kernels
(`tfdeeplab.ops.cuda_compile`) for the GPUs found or the architectures named, and
prints one line per library and per architecture: where, or why not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfdeeplab.cli import OneLineArgumentParser, run_command, start_tensorflow
from tfdeeplab.ops import cuda_compile
from tfdeeplab.ops.op_cache import (
    OpBuildError,
    build_op_library,
    cuda_sources,
    op_sources,
    project_ops,
)


def main(argv: list[str] | None = None) -> int:
    """Build every op and its CUDA kernels; 0 when everything was built."""
    parser = OneLineArgumentParser(
        prog="python -m tfdeeplab.ops.build",
        description="Compile the project's custom TensorFlow ops into the op cache "
        "($TFDEEPLAB_OP_CACHE, else ~/.cache/tfdeeplab/ops) and print where; their "
        "CUDA kernels too, for the GPUs found or for --gpu-archs.",
    )
    parser.add_argument(
        "--gpu-archs",
        type=_architectures,
        metavar="LIST",
        help="compile the CUDA kernels for these architectures (sm_70,sm_80,sm_90); "
        "no GPU is needed",
    )
    args = parser.parse_args(argv)
    return run_command(lambda: _build_every_op(args.gpu_archs))


def _architectures(text: str) -> list[int]:
    try:
        return [
            cuda_compile.parse_arch(part) for part in text.split(",") if part.strip()
        ]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _build_every_op(gpu_archs: list[int] | None = None) -> int:
    start_tensorflow()
    failed = 0
    for name in project_ops():
        try:
            library = build_op_library(op_sources(name), name)
        except OpBuildError as error:
            failed += 1
            print(f"{name}: not built: {error}")
        else:
            print(f"{name}: {library}")
        for source in cuda_sources(name):
            failed += _compile_cuda(name, source, gpu_archs)
    return 1 if failed else 0


def _compile_cuda(name: str, source: Path, gpu_archs: list[int] | None) -> int:
    """Print one line per architecture of `source`'s image; the number that failed.

    The architectures named, else those `cuda_compile.gpu_targets` chooses for the
    visible GPUs, as the op's first use on them does."""
    try:
        compiler = cuda_compile.cuda_compiler()
        supported = compiler.supported_archs()
    except OpBuildError as error:
        print(f"{name} CUDA: not compiled: {error}")
        return 1
    print(f"{name} CUDA: {compiler.identity} ({getattr(compiler, 'location', '')})")
    if gpu_archs:
        targets = [cuda_compile.CudaTarget(arch) for arch in gpu_archs]
    else:
        capabilities = cuda_compile.visible_gpu_capabilities()
        if not capabilities:
            print(
                f"{name} CUDA: no GPU visible; its kernels compile on a GPU's first "
                "use (--gpu-archs sm_70,sm_80,sm_90 compiles them now)"
            )
            return 0
        try:
            targets = cuda_compile.gpu_targets(capabilities, supported)
        except OpBuildError as error:
            print(f"{name} CUDA: not compiled: {error}")
            return 1
    failed = 0
    for target in targets:
        try:
            image = cuda_compile.cuda_image(
                source, target, compiler, cuda_compile.DEFAULT_OPTIONS
            )
        except OpBuildError as error:
            failed += 1
            print(f"{name} {target.name}: not compiled: {error}")
            continue
        print(f"{name} {target.name}: {image}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
