"""CUDA kernels compiled without a GPU or a CUDA toolkit: NVRTC from the pip wheel
compiles the deformable conv kernels for sm_70, sm_80 and sm_90 (the CI gate of every
kernel edit); the image cache, the architecture choice and one-line errors."""

import logging

import pytest

from tfdeeplab.ops import build, cuda_compile, op_cache
from tfdeeplab.ops.cuda_compile import (
    CudaCompileError,
    CudaTarget,
    Nvrtc,
    choose_target,
    cuda_image,
    parse_arch,
)
from tfdeeplab.ops.deformable_conv.gpu import CUDA_SOURCE, compile_images

KERNELS = [
    f"deformable_{kind}_{suffix}"
    for kind in ("im2col", "im2col_grad")
    for suffix in ("f32", "f64", "f16", "bf16")
] + ["deformable_convert_f16", "deformable_convert_bf16"]


@pytest.fixture(scope="module")
def nvrtc():
    return Nvrtc()


@pytest.mark.parametrize("arch", ["sm_70", "sm_80", "sm_90"])
def test_the_kernels_compile_to_a_cubin_for_each_architecture(
    arch, nvrtc, cache_folder
):
    images = compile_images([CudaTarget(parse_arch(arch))], nvrtc)
    image = images[arch].read_bytes()
    assert image[:4] == b"\x7fELF"  # a cubin is an ELF file of the GPU's code
    for kernel in KERNELS:
        assert kernel.encode() + b"\0" in image, kernel
    assert images[arch].parent == cache_folder / "cuda"


def test_a_gpu_newer_than_nvrtc_gets_ptx_the_driver_compiles(nvrtc, cache_folder):
    newest = max(nvrtc.supported_archs())
    target = choose_target(newest + 10, nvrtc.supported_archs())
    assert target == CudaTarget(newest, ptx=True)
    ptx = compile_images([target], nvrtc)[target.name].read_text()
    assert f".target sm_{newest}" in ptx
    assert ".entry deformable_im2col_grad_bf16" in ptx


def test_a_compile_error_is_one_line_with_the_first_error(
    tmp_path, nvrtc, cache_folder
):
    source = tmp_path / "broken.cu"
    source.write_text('extern "C" __global__ void f(float* x) {\n  x[0] = ;\n}\n')
    with pytest.raises(CudaCompileError) as raised:
        cuda_image(source, CudaTarget(80), nvrtc)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("broken.cu for sm_80: NVRTC: ")
    assert "broken.cu(2): error: expected an expression" in message
    assert "expected an expression" in raised.value.details
    assert not list(cache_folder.glob("cuda/*"))


class CountingCompiler:
    """A compiler that returns fake images and counts its calls."""

    def __init__(self, identity="fake 1.0"):
        self.identity = identity
        self.calls = []

    def supported_archs(self):
        return [70, 80, 90]

    def compile(self, source, name, target, options=()):
        self.calls.append((name, target.name, tuple(options)))
        return f"image of {name} for {target.name}".encode()


def test_images_are_cached_by_source_options_compiler_and_target(
    tmp_path, cache_folder
):
    source = tmp_path / "k.cu"
    source.write_text("// one\n")
    compiler = CountingCompiler()
    first = cuda_image(source, CudaTarget(80), compiler)
    assert cuda_image(source, CudaTarget(80), compiler) == first
    assert len(compiler.calls) == 1
    assert first.read_bytes() == b"image of k.cu for sm_80"
    assert first.name.startswith("k-") and first.name.endswith("-sm_80.cubin")

    others = {
        cuda_image(source, CudaTarget(90), compiler),
        cuda_image(source, CudaTarget(90, ptx=True), compiler),
        cuda_image(source, CudaTarget(80), compiler, ["-DX=1"]),
        cuda_image(source, CudaTarget(80), CountingCompiler("fake 2.0")),
    }
    source.write_text("// two\n")
    others.add(cuda_image(source, CudaTarget(80), compiler))
    assert len(others) == 5 and first not in others
    assert len(compiler.calls) == 5


def test_a_cut_cached_image_is_compiled_again(tmp_path, cache_folder, caplog):
    source = tmp_path / "k.cu"
    source.write_text("// kernels\n")
    compiler = CountingCompiler()
    image = cuda_image(source, CudaTarget(80), compiler)
    image.write_bytes(image.read_bytes()[:5])  # a copy cut short
    with caplog.at_level(logging.WARNING):
        again = cuda_image(source, CudaTarget(80), compiler)
    assert again == image and again.read_bytes() == b"image of k.cu for sm_80"
    assert len(compiler.calls) == 2
    assert "size or sha256 differs" in caplog.text


def test_an_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TFDEEPLAB_OP_CACHE", str(blocker))
    source = tmp_path / "k.cu"
    source.write_text("// kernels\n")
    with pytest.raises(op_cache.OpBuildError, match="set TFDEEPLAB_OP_CACHE") as raised:
        cuda_image(source, CudaTarget(80), CountingCompiler())
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "capability, supported, expected",
    [
        (90, [70, 80, 90], CudaTarget(90)),
        (86, [70, 80, 90], CudaTarget(80)),  # binary compatible within major 8
        (89, [70, 80, 86, 90], CudaTarget(86)),
        (120, [70, 80, 90], CudaTarget(90, ptx=True)),
        (75, [70, 80, 90], CudaTarget(70)),
    ],
)
def test_the_architecture_choice(capability, supported, expected):
    assert choose_target(capability, supported) == expected


def test_a_gpu_older_than_the_compiler_is_one_line():
    with pytest.raises(
        CudaCompileError, match="sm_60: the CUDA compiler supports only"
    ):
        choose_target(60, [75, 80, 90])


def test_architecture_names():
    assert [parse_arch(t) for t in ("sm_70", "compute_90", "86", "8.9", "12.0")] == [
        70,
        90,
        86,
        89,
        120,
    ]
    assert CudaTarget(90, ptx=True).name == "compute_90"
    with pytest.raises(ValueError, match="'sm_x'"):
        parse_arch("sm_x")


def test_a_missing_nvrtc_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDEEPLAB_NVRTC", str(tmp_path / "libnvrtc.so.12"))
    with pytest.raises(CudaCompileError, match="cannot load NVRTC .*libnvrtc.so.12"):
        Nvrtc()
    monkeypatch.delenv("TFDEEPLAB_NVRTC")
    monkeypatch.setattr(cuda_compile.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(cuda_compile.ctypes, "CDLL", _refuse_to_load)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvcc either
    with pytest.raises(CudaCompileError, match="pip install nvidia-cuda-nvrtc-cu12"):
        cuda_compile.cuda_compiler()


def _refuse_to_load(name, *args, **kwargs):
    raise OSError(f"{name}: cannot open shared object file")


# The build command's tests use the session's op cache, where the op libraries are
# built by now (a fresh cache would build them again, 15 s each).
def test_the_build_command_compiles_the_named_architectures(capsys):
    assert build.main(["--gpu-archs", "sm_70,sm_80,sm_90"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("deformable_conv CUDA: nvrtc ") for line in lines)
    for arch in ("sm_70", "sm_80", "sm_90"):
        (line,) = [
            line for line in lines if line.startswith(f"deformable_conv {arch}:")
        ]
        assert line.endswith(f"-{arch}.cubin")


def test_the_build_command_reports_a_broken_kernel_in_one_line_per_arch(
    tmp_path, monkeypatch, capsys
):
    broken = tmp_path / "broken_kernels.cu"
    broken.write_text(CUDA_SOURCE.read_text() + "\nnot C++ at all;\n")
    monkeypatch.setattr(
        build,
        "cuda_sources",
        lambda name: [broken] if name == "deformable_conv" else [],
    )
    assert build.main(["--gpu-archs", "sm_80,sm_90"]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "sm_" in line]
    assert len(lines) == 2
    for line, arch in zip(lines, ("sm_80", "sm_90"), strict=True):
        assert line.startswith(
            f"deformable_conv {arch}: not compiled: broken_kernels.cu"
        )
        assert "error" in line


def test_the_build_command_without_a_gpu_says_how_to_compile_now(monkeypatch, capsys):
    # The machine may have a GPU: the case under test is the one without.
    monkeypatch.setattr(cuda_compile, "visible_gpu_capabilities", lambda: [])
    assert build.main([]) == 0
    out = capsys.readouterr().out
    assert "deformable_conv CUDA: no GPU visible" in out
    assert "--gpu-archs sm_70,sm_80,sm_90" in out
