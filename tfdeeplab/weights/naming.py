"""Each format's tensor names, translated to our layers (Caffe names).

Our ResNet layers carry the released Caffe models' names: `conv1`, `bn_conv1`,
`res4b22_branch2c`, `bn4b22_branch2c`; heads `fc6`/`score` (DCN DeepLab) or
`aspp_c0..3` (ASPP). A format's tensors become `Tensor(layer, role, array)` records:
role `kernel` (already HWIO), `bias`, or a BatchNorm statistic (`gamma`, `beta`,
`mean`, `variance`, Caffe's `scale_factor`); the importer knows each format's
BatchNorm epsilon (`formats.WeightFormat.batch_norm_epsilon`) and folds what needs
folding. Anything else a file holds (a classifier, `num_batches_tracked`) is
`None`: reported as unused.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from tfdeeplab.catalog.resnet_layout import batch_norm_name

BRANCHES = {0: "branch1", 1: "branch2a", 2: "branch2b", 3: "branch2c"}
BN_ROLES = ("gamma", "beta", "mean", "variance")


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One source tensor in our terms.

    Args:
        layer: str. Our layer name (`res2a_branch1`, `bn2a_branch1`, `aspp_c0`).
        role: str. `kernel`, `bias`, `gamma`, `beta`, `mean`, `variance` or, for
            Caffe's BatchNorm blob 2, `scale_factor`.
        value: np.ndarray, in our layout (kernels HWIO).
    """

    layer: str
    role: str
    value: np.ndarray


def _oihw_to_hwio(value: np.ndarray) -> np.ndarray:
    return np.transpose(value, (2, 3, 1, 0)) if value.ndim == 4 else value


# MXNet (MSRA ResNet-v1, the DCN seed): arg:res2a_branch1_weight and
# aux:bn_conv1_moving_var
_MXNET = re.compile(
    r"^(?:arg:|aux:)?(.+)_(weight|bias|gamma|beta|moving_mean|moving_var)$"
)
_MXNET_ROLES = {
    "weight": "kernel",
    "bias": "bias",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "mean",
    "moving_var": "variance",
}


def from_mxnet(name: str, value: np.ndarray) -> list[Tensor] | None:
    """`arg:conv1_weight` (OIHW) -> Tensor("conv1", "kernel", HWIO), and so on."""
    match = _MXNET.match(name)
    if not match or match.group(1).startswith("fc1000"):
        return None
    layer, role = match.group(1), _MXNET_ROLES[match.group(2)]
    if role == "kernel":
        value = _oihw_to_hwio(value)
    return [Tensor(layer, role, value)]


def from_caffe(name: str, kind: str, blobs: list[np.ndarray]) -> list[Tensor] | None:
    """A Caffe layer's blobs: convolutions (weight, bias), BatchNorm (mean, variance,
    scale factor), Scale (gamma, beta; `scale_conv1` / `scale2a_branch1`)."""
    if name.startswith("fc1000") or kind in ("InnerProduct",):
        return None
    if kind == "BatchNorm" or name.startswith("bn"):
        roles = ("mean", "variance", "scale_factor")
        return [
            Tensor(name, role, blob) for role, blob in zip(roles, blobs, strict=False)
        ]
    if kind == "Scale" or name.startswith("scale"):
        layer = "bn_conv1" if name == "scale_conv1" else "bn" + name[len("scale") :]
        return [
            Tensor(layer, role, blob)
            for role, blob in zip(("gamma", "beta"), blobs, strict=False)
        ]
    layer = re.sub(r"^fc1_[a-z0-9]+_c(\d+)$", r"aspp_c\1", name)  # DeepLab v2 ASPP
    out = [Tensor(layer, "kernel", _oihw_to_hwio(blobs[0]))]
    if len(blobs) > 1:
        out.append(Tensor(layer, "bias", blobs[1].reshape(-1)))
    return out


# Keras Applications: conv4_block23_3_conv/kernel, conv1_bn/moving_variance
_KERAS = re.compile(r"^conv(\d)_block(\d+)_(\d)_(conv|bn)/(\w+)$")
_KERAS_ROLES = {
    "kernel": "kernel",
    "bias": "bias",
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "mean",
    "moving_variance": "variance",
}


def from_keras(
    name: str, value: np.ndarray, units: dict[str, tuple[str, ...]]
) -> list[Tensor] | None:
    """`conv2_block1_0_conv/kernel` -> res2a_branch1, with the model's unit names."""
    layer_name, _, weight = name.partition("/")
    role = _KERAS_ROLES.get(weight)
    if role is None:
        return None
    if layer_name in ("conv1_conv", "conv1_bn"):
        return [
            Tensor("conv1" if layer_name == "conv1_conv" else "bn_conv1", role, value)
        ]
    match = _KERAS.match(name)
    if not match:
        return None
    stage, block, branch, kind = match.groups()[:4]
    unit = _unit(units, f"res{stage}", int(block))
    conv = f"{unit}_{BRANCHES[int(branch)]}"
    return [Tensor(conv if kind == "conv" else batch_norm_name(conv), role, value)]


# kazuto1011/deeplab-pytorch DeepLabV2: layer1.conv1.conv.weight,
# layer4.block23.increase.bn.running_var, aspp.c0.weight (optionally base./module.)
_TORCH = re.compile(
    r"^(?:module\.)?(?:base\.)?(?:layer(\d)\.(?:block(\d+)\.(\w+)|conv1)\.(conv|bn)"
    r"\.(\w+)|aspp\.c(\d+)\.(weight|bias))$"
)
_TORCH_BRANCHES = {
    "shortcut": "branch1",
    "reduce": "branch2a",
    "conv3x3": "branch2b",
    "increase": "branch2c",
}
_TORCH_BN_ROLES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "mean",
    "running_var": "variance",
}


def from_torch(
    name: str, value: np.ndarray, units: dict[str, tuple[str, ...]]
) -> list[Tensor] | None:
    """deeplab-pytorch's names: layer1 is the stem, layer2..5 are res2..res5."""
    match = _TORCH.match(name)
    if not match:
        return None
    layer_index, block, branch, kind, weight, aspp, aspp_weight = match.groups()
    if aspp is not None:
        role = "kernel" if aspp_weight == "weight" else "bias"
        value = _oihw_to_hwio(value) if role == "kernel" else value
        return [Tensor(f"aspp_c{aspp}", role, value)]
    if weight not in _TORCH_BN_ROLES:
        return None
    if layer_index == "1":
        conv = "conv1"
    elif block is not None and branch in _TORCH_BRANCHES:
        stage = f"res{int(layer_index)}"
        conv = f"{_unit(units, stage, int(block))}_{_TORCH_BRANCHES[branch]}"
    else:
        return None
    if kind == "conv":
        role = "kernel" if weight == "weight" else "bias"
        value = _oihw_to_hwio(value) if role == "kernel" else value
        return [Tensor(conv, role, value)]
    return [Tensor(batch_norm_name(conv), _TORCH_BN_ROLES[weight], value)]


def _unit(units: dict[str, tuple[str, ...]], stage: str, block: int) -> str:
    names = units.get(stage, ())
    if 1 <= block <= len(names):
        return names[block - 1]
    return f"{stage}[unit {block}]"  # beyond the model: reported as unused
