"""Compile CUDA C++ into a device image for one GPU architecture, with no CUDA toolkit.

The compiler is NVRTC, the runtime compiler `tensorflow[and-cuda]` installs with the
`nvidia-cuda-nvrtc-cu12` wheel: it turns CUDA C++ into machine code (a cubin) for a
named architecture on any machine, with or without a GPU. Where NVRTC cannot be
found, a system `nvcc` on PATH does the same. `$TFDEEPLAB_NVRTC` names the NVRTC
library to use.

For a GPU of compute capability X.Y the image is the cubin of `sm_XY` when the
compiler knows that architecture (a cubin runs on any driver that supports the GPU,
as PyTorch's jiterator relies on), else the cubin of the newest `sm_XZ` with Z < Y
(binary compatible within a major version), else, for a GPU newer than the
compiler, the PTX of its newest architecture, which the driver compiles on load.

Images are cached beside the op libraries (`tfdeeplab.ops.op_cache.cache_dir()`,
folder `cuda/`), named by a hash of the source, the options and the compiler's
version, and by the target: an edit, an upgrade or another GPU compiles anew. Each
image is written whole (a temporary name, then a rename) and checked against its
recorded size and sha256 when read.

    image = cuda_image(Path("kernels.cu"), choose_target(90, nvrtc.supported_archs()))
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tfdeeplab.ops.op_cache import (
    OpBuildError,
    cache_dir,
    first_error_line,
    usable_cache_entry,
    write_cache_entry,
)

# C++17, as the op libraries; IEEE arithmetic (no --use_fast_math), so results are
# those of the CPU kernels up to rounding and fused multiply-adds.
DEFAULT_OPTIONS = ("-std=c++17",)


class CudaCompileError(OpBuildError):
    """CUDA source that could not be compiled for an architecture (one line; the
    compiler's whole log in `details`)."""


def parse_arch(text: str) -> int:
    """An architecture as 10 * major + minor, from `sm_80`, `compute_80`, `80` or `8.0`.

    Raises:
        ValueError: one line naming the text.

    Example:
        >>> [parse_arch(t) for t in ("sm_70", "8.6", "90")]
        [70, 86, 90]
    """
    match = re.fullmatch(r"(?:sm_|compute_)?(\d)(\d{1,2})|(\d+)\.(\d)", text.strip())
    if not match:
        raise ValueError(
            f"GPU architecture {text!r}: expected sm_XY (sm_70, sm_80, sm_90) or X.Y"
        )
    major, minor = (match[1], match[2]) if match[1] else (match[3], match[4])
    return int(major) * 10 + int(minor)


@dataclasses.dataclass(frozen=True)
class CudaTarget:
    """What to compile: the cubin of `sm_<arch>`, or (`ptx`) the PTX of
    `compute_<arch>` that the driver compiles for the GPU it loads it on."""

    arch: int
    ptx: bool = False

    @property
    def name(self) -> str:
        return f"{'compute' if self.ptx else 'sm'}_{self.arch}"

    @property
    def suffix(self) -> str:
        return ".ptx" if self.ptx else ".cubin"


def choose_target(capability: int, supported: Sequence[int]) -> CudaTarget:
    """The image to build for a GPU of `capability` (10 * major + minor).

    Args:
        capability: int. The GPU's compute capability, e.g. 90 for an H100/H200.
        supported: the architectures the compiler can emit cubins for.

    Raises:
        CudaCompileError: the GPU is older than every supported architecture.

    Example:
        >>> choose_target(86, [70, 80, 90]).name   # sm_80 code runs on sm_86
        'sm_80'
        >>> choose_target(120, [70, 80, 90]).name  # newer than the compiler: PTX
        'compute_90'
    """
    supported = sorted(set(supported))
    if capability in supported:
        return CudaTarget(capability)
    same_major = [
        a for a in supported if a // 10 == capability // 10 and a < capability
    ]
    if same_major:
        return CudaTarget(same_major[-1])
    if supported and capability > supported[-1]:
        return CudaTarget(supported[-1], ptx=True)
    raise CudaCompileError(
        f"sm_{capability}: the CUDA compiler supports only "
        f"{', '.join(f'sm_{a}' for a in supported) or 'no architecture'}"
    )


class Nvrtc:
    """NVRTC through ctypes: `compile(source, name, target, options) -> bytes`.

    Args:
        library: path or soname of libnvrtc; defaults to `find_nvrtc()`.

    Example:
        >>> cubin = Nvrtc().compile(source, "kernels.cu", CudaTarget(80))
    """

    def __init__(self, library: str | None = None):
        self.library = self.location = library or find_nvrtc()
        try:
            self._lib = ctypes.CDLL(self.library)
        except OSError as error:
            raise CudaCompileError(
                f"cannot load NVRTC {self.library}: {error}"
            ) from None
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self._lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)))
        self.version = f"{major.value}.{minor.value}"

    @property
    def identity(self) -> str:
        """What the cache key names: `nvrtc 12.9`."""
        return f"nvrtc {self.version}"

    def _check(self, result: int, log: str = "") -> None:
        if result != 0:
            self._lib.nvrtcGetErrorString.restype = ctypes.c_char_p
            what = self._lib.nvrtcGetErrorString(result).decode()
            raise CudaCompileError(
                f"NVRTC: {what}: {first_error_line(log)}" if log else f"NVRTC: {what}",
                details=log,
            )

    def supported_archs(self) -> list[int]:
        count = ctypes.c_int()
        self._check(self._lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)))
        archs = (ctypes.c_int * count.value)()
        self._check(self._lib.nvrtcGetSupportedArchs(archs))
        return list(archs)

    def compile(
        self, source: str, name: str, target: CudaTarget, options: Sequence[str] = ()
    ) -> bytes:
        program = ctypes.c_void_p()
        self._check(
            self._lib.nvrtcCreateProgram(
                ctypes.byref(program), source.encode(), name.encode(), 0, None, None
            )
        )
        try:
            flags = [f"--gpu-architecture={target.name}", *options]
            argv = (ctypes.c_char_p * len(flags))(*(flag.encode() for flag in flags))
            result = self._lib.nvrtcCompileProgram(program, len(flags), argv)
            log_size = ctypes.c_size_t()
            self._lib.nvrtcGetProgramLogSize(program, ctypes.byref(log_size))
            log = ctypes.create_string_buffer(log_size.value)
            self._lib.nvrtcGetProgramLog(program, log)
            self._check(result, log.value.decode(errors="replace"))
            get_size, get = (
                ("nvrtcGetPTXSize", "nvrtcGetPTX")
                if target.ptx
                else ("nvrtcGetCUBINSize", "nvrtcGetCUBIN")
            )
            size = ctypes.c_size_t()
            self._check(getattr(self._lib, get_size)(program, ctypes.byref(size)))
            image = ctypes.create_string_buffer(size.value)
            self._check(getattr(self._lib, get)(program, image))
            return image.raw
        finally:
            self._lib.nvrtcDestroyProgram(ctypes.byref(program))


class Nvcc:
    """A system `nvcc` with the interface of `Nvrtc` (used where NVRTC is missing)."""

    def __init__(self, executable: str = "nvcc"):
        self.executable = self.location = shutil.which(executable)
        if self.executable is None:
            raise CudaCompileError(f"no {executable} on PATH")
        output = subprocess.run(
            [self.executable, "--version"], capture_output=True, text=True, check=False
        ).stdout
        found = re.search(r"release (\d+\.\d+)", output)
        self.version = found[1] if found else "unknown"

    @property
    def identity(self) -> str:
        return f"nvcc {self.version}"

    def supported_archs(self) -> list[int]:
        output = subprocess.run(
            [self.executable, "--list-gpu-code"], capture_output=True, text=True
        ).stdout
        return sorted({parse_arch(code) for code in re.findall(r"sm_\d+", output)})

    def compile(
        self, source: str, name: str, target: CudaTarget, options: Sequence[str] = ()
    ) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            source_path = Path(folder) / name
            source_path.write_text(source)
            output = source_path.with_suffix(target.suffix)
            kind = "--ptx" if target.ptx else "--cubin"
            command = [
                self.executable,
                kind,
                f"--gpu-architecture={target.name}",
                *options,
                str(source_path),
                "-o",
                str(output),
            ]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                log = result.stderr + result.stdout
                raise CudaCompileError(f"nvcc: {first_error_line(log)}", details=log)
            return output.read_bytes()


def find_nvrtc() -> str:
    """The NVRTC library: `$TFDEEPLAB_NVRTC`, else the `nvidia-cuda-nvrtc-cu12`
    wheel's, else the system's `libnvrtc.so.12`.

    Raises:
        CudaCompileError: none of them is there.
    """
    configured = os.environ.get("TFDEEPLAB_NVRTC")
    if configured:
        return configured
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except ModuleNotFoundError:  # no nvidia-* wheel at all
        spec = None
    for folder in (spec.submodule_search_locations if spec else None) or []:
        candidates = sorted((Path(folder) / "lib").glob("libnvrtc.so.*"))
        candidates = [path for path in candidates if ".alt." not in path.name]
        if candidates:
            return str(candidates[0])
    for name in ("libnvrtc.so.12", "libnvrtc.so"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    raise CudaCompileError(
        "no NVRTC: pip install nvidia-cuda-nvrtc-cu12 (tensorflow[and-cuda] installs "
        "it), or set TFDEEPLAB_NVRTC to a libnvrtc.so"
    )


def cuda_compiler():
    """NVRTC where it is found, else a system `nvcc`.

    Raises:
        CudaCompileError: neither is there (the message says what to install).
    """
    try:
        return Nvrtc()
    except CudaCompileError as no_nvrtc:
        if shutil.which("nvcc"):
            return Nvcc()
        raise no_nvrtc


def cuda_image(
    source: Path,
    target: CudaTarget,
    compiler=None,
    options: Sequence[str] = (),
) -> Path:
    """The device image of `source` for `target`, from the cache or compiled now.

    Args:
        source: Path of the CUDA C++ file.
        target: CudaTarget (see `choose_target`).
        compiler: an `Nvrtc`, `Nvcc` or anything with `identity` and `compile`;
            defaults to `cuda_compiler()`.
        options: compiler options besides the architecture.

    Returns:
        Path of the cached cubin or PTX.

    Raises:
        CudaCompileError: the source does not compile (the compiler's first error).
        OpBuildError: the cache cannot be written.

    Example:
        >>> cuda_image(Path("kernels.cu"), CudaTarget(80)).suffix
        '.cubin'
    """
    compiler = compiler or cuda_compiler()
    text = source.read_text()
    digest = hashlib.sha256()
    for part in (text, "\0".join(options), compiler.identity):
        digest.update(part.encode() + b"\0")
    image = (
        cache_dir()
        / "cuda"
        / f"{source.stem}-{digest.hexdigest()[:16]}-{target.name}{target.suffix}"
    )
    if usable_cache_entry(image):
        return image
    try:
        compiled = compiler.compile(text, source.name, target, options)
    except CudaCompileError as error:
        raise CudaCompileError(
            f"{source.name} for {target.name}: {error}", details=error.details
        ) from None
    return write_cache_entry(image, lambda partial: partial.write_bytes(compiled))


def visible_gpu_capabilities() -> list[int]:
    """Compute capabilities (10 * major + minor) of the GPUs TensorFlow sees.

    Example:
        >>> visible_gpu_capabilities()   # one H200
        [90]
    """
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        major, minor = tf.config.experimental.get_device_details(gpu).get(
            "compute_capability", (0, 0)
        )
        capabilities.append(major * 10 + minor)
    return capabilities


def gpu_targets(
    capabilities: Sequence[int], supported: Sequence[int]
) -> list[CudaTarget]:
    """The target chosen (`choose_target`) for each distinct capability, in order.

    Raises:
        OpBuildError: a GPU older than every architecture the compiler has.

    Example:
        >>> [target.name for target in gpu_targets([90, 80, 90], [70, 80, 90])]
        ['sm_80', 'sm_90']
    """
    return [
        choose_target(capability, supported) for capability in sorted(set(capabilities))
    ]


def compile_for_gpus(
    source: Path,
    capabilities: Sequence[int],
    compiler=None,
    options: Sequence[str] = DEFAULT_OPTIONS,
) -> dict[int, Path]:
    """The image of `source` for each GPU capability, from the cache or compiled.

    Args:
        source: Path of the CUDA C++ file.
        capabilities: compute capabilities (`visible_gpu_capabilities`).
        compiler: defaults to `cuda_compiler()`.
        options: compiler options besides the architecture.

    Raises:
        OpBuildError: no compiler, a compile error, or an unsupported GPU.

    Example:
        >>> compile_for_gpus(Path("kernels.cu"), [90])
        {90: PosixPath('.../kernels-...-sm_90.cubin')}
    """
    compiler = compiler or cuda_compiler()
    distinct = sorted(set(capabilities))
    targets = gpu_targets(distinct, compiler.supported_archs())
    return {
        capability: cuda_image(source, target, compiler, options)
        for capability, target in zip(distinct, targets, strict=True)
    }
