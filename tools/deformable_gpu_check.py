"""Check our CUDA deformable conv kernels against torchvision on a GPU, and time them.

    python tools/deformable_gpu_check.py [--markdown BENCHMARKS.md] [--quick]

For a machine with an NVIDIA GPU, CuPy, torch and torchvision, and no TensorFlow
(the device machine of this project): compiles `deformable_conv_kernels.cu` with
NVRTC through CuPy, drives it with the block and GEMM arithmetic of `kernel.py`
(`cuda_launch.py`, loaded by path; the GEMMs are torch's cuBLAS matmuls, as
TensorFlow's are on a GPU) and checks it against `torchvision.ops.deform_conv2d` on
CUDA:

- float64: the output and the gradients of input, offsets, kernel and mask within
  1e-9 of the largest value, on the shapes of `deform_cases.py` plus two with a
  whole warp of lanes per sample (40 and 512 channels a group);
- float32 within 1e-4, float16 within 2e-2 and bfloat16 within 5e-2 (the reference
  then runs in float32 on the same rounded values).

Then it times forward + backward at DeepLab's res5 shapes (N = 2 and 8; 21x21 and
41x41; 512 -> 512 channels, 3x3, dilation 2) against torchvision's CUDA op and a
cuDNN convolution of the same shape (TF32 allowed in all three, TensorFlow's default),
prints the table and, with `--markdown FILE`, writes it into FILE between the
markers `<!-- deformable-gpu-check -->` and `<!-- /deformable-gpu-check -->`.
Exits 1 when a check fails. About a minute on an H200.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import cupy
import numpy as np
import torch
from deform_cases import CASES
from torchvision.ops import deform_conv2d

ROOT = Path(__file__).resolve().parents[1]
OP_FOLDER = ROOT / "tfdeeplab" / "ops" / "deformable_conv"
BLOCK_BYTES = 64 * 1024 * 1024  # kernel.py's BLOCK_BYTES
TOLERANCES = {"float64": 1e-9, "float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}
EXTRA_CASES = [
    (1, 13, 13, 80, 8, 1, 2, 2, 2, True),  # 40 channels a group: 32 lanes, twice
    (2, 9, 9, 512, 16, 1, 2, 2, 1, False),  # res5's channels
]
TIMED_SHAPES = [(2, 21), (2, 41), (8, 21), (8, 41)]  # (N, H = W), 512 -> 512
MARKERS = ("<!-- deformable-gpu-check -->", "<!-- /deformable-gpu-check -->")


def _load_cuda_launch():
    spec = importlib.util.spec_from_file_location(
        "cuda_launch", OP_FOLDER / "cuda_launch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launch = _load_cuda_launch()
TORCH_TYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


class CudaKernels:
    """The .cu kernels compiled by NVRTC (CuPy), launched on torch tensors."""

    def __init__(self):
        source = (OP_FOLDER / "deformable_conv_kernels.cu").read_text()
        started = time.perf_counter()
        self.module = cupy.RawModule(code=source, options=("-std=c++17",))
        self.module.compile()
        self.compile_seconds = time.perf_counter() - started
        self.geometry_type = np.dtype(
            [(name, np.int64) for name in launch.GEOMETRY_FIELDS]
        )

    @staticmethod
    def _array(tensor: torch.Tensor | None):
        """A CuPy view of a contiguous torch tensor (16-bit types as int16)."""
        if tensor is None:
            return np.uint64(0)  # a null pointer
        assert tensor.is_contiguous()
        if tensor.dtype in (torch.float16, torch.bfloat16):
            tensor = tensor.view(torch.int16)
        return cupy.asarray(tensor)

    def _geometry(self, values: dict):
        return np.array([tuple(values.values())], self.geometry_type)[0]

    def _launch(self, name: str, threads: int, arguments) -> None:
        blocks = -(-threads // launch.THREADS_PER_BLOCK)
        self.module.get_function(name)(
            (blocks,), (launch.THREADS_PER_BLOCK,), arguments
        )

    def im2col(self, inputs, offsets, mask, geometry: dict, dtype: str):
        columns = torch.empty(
            (geometry["count"], geometry["taps"] * geometry["channels"]),
            dtype=inputs.dtype,
            device=inputs.device,
        )
        self._launch(
            f"deformable_im2col_{launch.TYPE_SUFFIXES[dtype]}",
            launch.launch_threads(geometry),
            tuple(self._array(t) for t in (inputs, offsets, mask, columns))
            + (self._geometry(geometry),),
        )
        return columns

    def im2col_grad(self, inputs, offsets, mask, grad_columns, geometry, dtype):
        buffered = dtype in launch.BUFFERED_TYPES
        grad_input = torch.zeros(
            inputs.shape,
            dtype=torch.float32 if buffered else inputs.dtype,
            device=inputs.device,
        )
        grad_offsets = torch.zeros_like(offsets)
        grad_mask = torch.zeros_like(mask) if mask is not None else None
        suffix = launch.TYPE_SUFFIXES[dtype]
        self._launch(
            f"deformable_im2col_grad_{suffix}",
            launch.launch_threads(geometry),
            tuple(
                self._array(t)
                for t in (inputs, offsets, mask, grad_columns.contiguous())
            )
            + tuple(self._array(t) for t in (grad_input, grad_offsets, grad_mask))
            + (self._geometry(geometry),),
        )
        if buffered:
            converted = torch.empty(inputs.shape, dtype=inputs.dtype, device="cuda")
            self._launch(
                f"deformable_convert_{suffix}",
                grad_input.numel(),
                (
                    self._array(grad_input),
                    self._array(converted),
                    np.int64(grad_input.numel()),
                ),
            )
            grad_input = converted
        return grad_input, grad_offsets, grad_mask


def ours(kernels, inputs, offsets, kernel, mask, config, upstream, dtype):
    """Output and gradients by our kernels (NHWC, kernel HWIO), as kernel.py."""
    stride, pad, dilation, groups = config
    n, h, w, c = inputs.shape
    kh, kw, _, filters = kernel.shape
    row = kh * kw * c
    pixels = offsets.shape[0] * offsets.shape[1] * offsets.shape[2]

    def geometry(start, count):
        return launch.cuda_geometry(
            inputs.shape, (kh, kw), stride, pad, dilation, groups,
            mask is not None, start, count,
        )  # fmt: skip

    buffered = dtype in launch.BUFFERED_TYPES
    outputs, sums = launch.blocked_deformable_conv(
        lambda start, count: kernels.im2col(
            inputs, offsets, mask, geometry(start, count), dtype
        ),
        lambda grad_columns, start: kernels.im2col_grad(
            inputs,
            offsets,
            mask,
            grad_columns,
            geometry(start, len(grad_columns)),
            dtype,
        ),
        kernel.reshape(row, filters),
        None if upstream is None else upstream.reshape(pixels, filters),
        pixels,
        row_bytes=row * inputs.element_size(),
        block_bytes=BLOCK_BYTES,
        accumulate=(lambda part: part.float() if part is not None else None)
        if buffered
        else (lambda part: part),
    )
    out = torch.cat(outputs).reshape(*offsets.shape[:3], filters)
    return out, sums


def torchvision_op(inputs, offsets, kernel, mask, config, upstream):
    """torchvision's output and gradients, converted to our layouts."""
    stride, pad, dilation, _ = config

    def nchw(t, *order):
        return t.permute(*order).contiguous().requires_grad_(True)

    x = nchw(inputs, 0, 3, 1, 2)
    off = nchw(offsets, 0, 3, 1, 2)
    weight = nchw(kernel, 3, 2, 0, 1)
    m = nchw(mask, 0, 3, 1, 2) if mask is not None else None
    out = deform_conv2d(
        x, off, weight, stride=stride, padding=pad, dilation=dilation, mask=m
    )
    if upstream is None:
        return out.permute(0, 2, 3, 1), None
    out.backward(upstream.permute(0, 3, 1, 2))
    grads = [
        x.grad.permute(0, 2, 3, 1),
        off.grad.permute(0, 2, 3, 1),
        weight.grad.permute(2, 3, 1, 0),
        m.grad.permute(0, 2, 3, 1) if m is not None else None,
    ]
    return out.detach().permute(0, 2, 3, 1), grads


def random_case(case, seed):
    n, h, w, c, o, stride, pad, dilation, groups, modulated = case
    rng = np.random.default_rng(seed)
    ho = (h + 2 * pad - dilation * 2 - 1) // stride + 1
    wo = (w + 2 * pad - dilation * 2 - 1) // stride + 1
    arrays = {
        "inputs": rng.normal(size=(n, h, w, c)),
        "offsets": rng.uniform(-3.5, 3.5, size=(n, ho, wo, 2 * groups * 9)),
        "kernel": rng.normal(size=(3, 3, c, o)) / np.sqrt(9 * c),
        "mask": rng.uniform(0, 1, size=(n, ho, wo, groups * 9)) if modulated else None,
        "upstream": rng.normal(size=(n, ho, wo, o)),
    }
    return arrays, (stride, pad, dilation, groups)


def check_case(kernels, case, seed, dtype) -> dict:
    arrays, config = random_case(case, seed)
    kind = TORCH_TYPES[dtype]

    def tensor(name, as_type):
        value = arrays[name]
        return None if value is None else torch.tensor(value, device="cuda").to(as_type)

    names = ("inputs", "offsets", "kernel", "mask", "upstream")
    mine = {name: tensor(name, kind) for name in names}
    # The reference: float64 for float64, else float32 on the same rounded values.
    reference_type = torch.float64 if dtype == "float64" else torch.float32
    theirs = {
        name: None if value is None else value.to(reference_type)
        for name, value in mine.items()
    }
    out, (grad_kernel, grad_input, grad_offsets, grad_mask) = ours(
        kernels, *(mine[name] for name in names[:4]), config, mine["upstream"], dtype
    )
    grad_kernel = grad_kernel.reshape(mine["kernel"].shape)
    want_out, want_grads = torchvision_op(
        *(theirs[name] for name in names[:4]), config, theirs["upstream"]
    )
    found = {
        "out": (out, want_out),
        "grad_inputs": (grad_input, want_grads[0]),
        "grad_offsets": (grad_offsets, want_grads[1]),
        "grad_kernel": (grad_kernel, want_grads[2]),
    }
    if grad_mask is not None:
        found["grad_mask"] = (grad_mask, want_grads[3])
    report = {}
    for name, (got, want) in found.items():
        want = want.double()
        scale = max(float(want.abs().max()), 1e-30)
        report[name] = float((got.double() - want).abs().max()) / scale
    return report


def timed(function, repeats: int) -> float:
    """Median milliseconds of `function()` on the GPU (after two warm-up calls)."""
    for _ in range(2):
        function()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = (
            torch.cuda.Event(enable_timing=True),
            torch.cuda.Event(enable_timing=True),
        )
        start.record()
        function()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def time_shape(kernels, batch, size, repeats, dtype="float32") -> dict:
    channels = 512
    case = (batch, size, size, channels, channels, 1, 2, 2, 1, False)
    arrays, config = random_case(case, seed=0)
    arrays["offsets"] *= 0.3  # DeepLab's learned offsets are small
    kind = TORCH_TYPES[dtype]
    mine = {
        name: torch.tensor(value, device="cuda").to(kind)
        for name, value in arrays.items()
        if value is not None
    }

    def our_step():
        ours(kernels, mine["inputs"], mine["offsets"], mine["kernel"], None, config,
             mine["upstream"], dtype)  # fmt: skip

    def torchvision_step():
        torchvision_op(mine["inputs"], mine["offsets"], mine["kernel"], None, config,
                       mine["upstream"])  # fmt: skip

    x = mine["inputs"].permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    weight = mine["kernel"].permute(3, 2, 0, 1).contiguous().requires_grad_(True)
    upstream = mine["upstream"].permute(0, 3, 1, 2).contiguous()

    def cudnn_step():
        out = torch.nn.functional.conv2d(x, weight, padding=2, dilation=2)
        out.backward(upstream)

    row = {
        "shape": f"N={batch} {size}x{size} 512->512 3x3 d2 {dtype}",
        "ours_ms": timed(our_step, repeats),
        "cudnn_ms": timed(cudnn_step, repeats),
    }
    if dtype != "bfloat16":  # torchvision's op has no bfloat16 kernel on some builds
        row["torchvision_ms"] = timed(torchvision_step, repeats)
        row["ours_vs_torchvision"] = row["ours_ms"] / row["torchvision_ms"]
    row["ours_vs_cudnn"] = row["ours_ms"] / row["cudnn_ms"]
    return row


def markdown(report: dict) -> str:
    lines = [
        MARKERS[0],
        f"Measured {report['date']} on {report['gpu']} (torch {report['torch']}, "
        f"torchvision {report['torchvision']}, CuPy {report['cupy']}), by "
        "`python tools/deformable_gpu_check.py --markdown BENCHMARKS.md`; forward + "
        "backward, median of "
        f"{report['repeats']} runs, TF32 allowed. Parity: "
        + ("all passed" if report["passed"] else "FAILED")
        + f" (largest float64 difference {report['worst']['float64']:.2g} of the "
        "largest value).",
        "",
        "| shape | ours ms | torchvision ms | cuDNN conv ms | ours / torchvision | "
        "ours / cuDNN |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["timings"]:
        tv = row.get("torchvision_ms")
        ratio = row.get("ours_vs_torchvision")
        lines.append(
            f"| {row['shape']} | {row['ours_ms']:.2f} | "
            f"{'-' if tv is None else f'{tv:.2f}'} | {row['cudnn_ms']:.2f} | "
            f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
            f"{row['ours_vs_cudnn']:.2f}x |"
        )
    lines.append(MARKERS[1])
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    pattern = re.escape(MARKERS[0]) + ".*?" + re.escape(MARKERS[1])
    if re.search(pattern, old, flags=re.S):
        new = re.sub(pattern, lambda _: text, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n## Deformable conv on a GPU\n\n" + text + "\n"
    path.write_text(new)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="write the table into this file")
    parser.add_argument("--quick", action="store_true", help="fewer timing runs")
    parser.add_argument("--json", type=Path, help="write the whole report here")
    args = parser.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    kernels = CudaKernels()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "torchvision": __import__("torchvision").__version__,
        "cupy": cupy.__version__,
        "nvrtc_compile_s": kernels.compile_seconds,
        "checks": {},
        "worst": {},
    }
    torch.backends.cuda.matmul.allow_tf32 = False  # parity: full float32 GEMMs
    torch.backends.cudnn.allow_tf32 = False
    for dtype, tolerance in TOLERANCES.items():
        worst = 0.0
        for index, case in enumerate(CASES + EXTRA_CASES):
            result = check_case(kernels, case, index, dtype)
            report["checks"][f"{dtype} case{index}"] = result
            worst = max(worst, *result.values())
            if not all(value <= tolerance for value in result.values()):
                print(f"FAILED {dtype} {case}: {json.dumps(result)}", flush=True)
        report["worst"][dtype] = worst
        print(f"{dtype}: largest difference {worst:.3g} (tolerance {tolerance:g})")
    report["passed"] = all(
        report["worst"][dtype] <= tolerance for dtype, tolerance in TOLERANCES.items()
    )
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    report["repeats"] = 5 if args.quick else 20
    report["timings"] = [
        time_shape(kernels, batch, size, report["repeats"])
        for batch, size in TIMED_SHAPES
    ] + [time_shape(kernels, 8, 41, report["repeats"], dtype="bfloat16")]
    for row in report["timings"]:
        print(json.dumps(row), flush=True)
    table = markdown(report)
    print(table)
    if args.markdown:
        write_markdown(args.markdown, table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
