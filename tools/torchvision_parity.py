"""Check our deformable convolution against `torchvision.ops.deform_conv2d`.

    python tools/torchvision_parity.py vectors.npz    # needs torch and torchvision

Reads the vectors of `deform_vectors.py` (NHWC, kernel HWIO, offsets and mask per
pixel as channels) and recomputes output and gradients with torchvision (NCHW,
kernel OIHW, offsets [N, 2*G*K, Ho, Wo]; the same (dy, dx) per tap order) in float64,
on CUDA when available and on the CPU. Prints the largest differences as JSON and
exits 1 if any exceeds 1e-9.
"""

import json
import sys

import numpy as np
import torch
from torchvision.ops import deform_conv2d


def check(vectors, device: str) -> dict:
    report = {}
    cases = sorted({key.split("/")[0] for key in vectors.files})
    for case in cases:
        get = lambda name, case=case: vectors[f"{case}/{name}"]  # noqa: E731
        n, h, w, c, o, stride, pad, dilation, groups, modulated = get("config")

        def tensor(array, *permute):
            value = torch.tensor(array, dtype=torch.float64, device=device)
            return value.permute(*permute).contiguous().requires_grad_(True)

        inputs = tensor(get("inputs"), 0, 3, 1, 2)
        offsets = tensor(get("offsets"), 0, 3, 1, 2)
        kernel = tensor(get("kernel"), 3, 2, 0, 1)
        mask = tensor(get("mask"), 0, 3, 1, 2) if modulated else None
        out = deform_conv2d(
            inputs,
            offsets,
            kernel,
            stride=int(stride),
            padding=int(pad),
            dilation=int(dilation),
            mask=mask,
        )
        upstream = torch.tensor(
            get("upstream"), dtype=torch.float64, device=device
        ).permute(0, 3, 1, 2)
        out.backward(upstream)
        found = {
            "out": out.detach().permute(0, 2, 3, 1),
            "grad_inputs": inputs.grad.permute(0, 2, 3, 1),
            "grad_offsets": offsets.grad.permute(0, 2, 3, 1),
            "grad_kernel": kernel.grad.permute(2, 3, 1, 0),
        }
        if modulated:
            found["grad_mask"] = mask.grad.permute(0, 2, 3, 1)
        report[case] = {
            name: float(np.abs(value.cpu().numpy() - get(name)).max())
            for name, value in found.items()
        }
    return report


def main(path: str) -> int:
    vectors = np.load(path)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    report = {device: check(vectors, device) for device in devices}
    if torch.cuda.is_available():
        report["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(report, indent=1))
    worst = max(
        value
        for device in devices
        for case in report[device].values()
        for value in case.values()
    )
    print(f"largest difference: {worst:.3g}")
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
