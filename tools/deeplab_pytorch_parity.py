"""deeplab-pytorch's DeepLab v2 and ours on the same imported weights: the same
logits.

    pip install torch   # CPU is enough; torch is in no requirements file
    python tools/deeplab_pytorch_parity.py

Builds kazuto1011/deeplab-pytorch's DeepLabV2 (written out below in its layout,
2-2-2-2 units, ASPP rates 6 and 12, random BatchNorm statistics), saves its state
dict as that project's MSC wrapper does (`base.` prefixes, a `state_dict` key),
imports the file with `python -m tfdeeplab.weights`' importer onto our matching
model (`head: aspp_v2`, output stride 8, the stem pool padded by 1 as Caffe's
ceil mode) and compares both networks' ASPP sums in float64 on one 33x45 image.
Prints the largest difference and exits 1 when it exceeds 1e-3 of the largest
logit. The result of the last run is recorded in BENCHMARKS.md ("Weight import
parity").
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfdeeplab.catalog.resnet_layout import resnet_unit_names  # noqa: E402
from tfdeeplab.config import ModelConfig  # noqa: E402
from tfdeeplab.models import build_model  # noqa: E402
from tfdeeplab.weights.importer import plan_import  # noqa: E402

TOLERANCE = 1e-3  # of the largest logit: float32 weights, float64 arithmetic


def deeplab_pytorch_v2(torch, n_classes, n_blocks, rates):
    """kazuto1011/deeplab-pytorch's DeepLabV2, written out here in its layout."""
    nn = torch.nn

    class ConvBnReLU(nn.Sequential):
        def __init__(self, cin, cout, kernel, stride, padding, dilation, relu=True):
            super().__init__()
            self.add_module(
                "conv",
                nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False),
            )
            self.add_module("bn", nn.BatchNorm2d(cout, eps=1e-5))
            if relu:
                self.add_module("relu", nn.ReLU())

    class Bottleneck(nn.Module):
        def __init__(self, cin, cout, stride, dilation, downsample):
            super().__init__()
            mid = cout // 4
            self.reduce = ConvBnReLU(cin, mid, 1, stride, 0, 1)
            self.conv3x3 = ConvBnReLU(mid, mid, 3, 1, dilation, dilation)
            self.increase = ConvBnReLU(mid, cout, 1, 1, 0, 1, relu=False)
            self.shortcut = (
                ConvBnReLU(cin, cout, 1, stride, 0, 1, relu=False)
                if downsample
                else None
            )

        def forward(self, x):
            h = self.increase(self.conv3x3(self.reduce(x)))
            return torch.relu(h + (self.shortcut(x) if self.shortcut else x))

    def res_layer(count, cin, cout, stride, dilation):
        layer = nn.Sequential()
        for i in range(count):
            layer.add_module(
                f"block{i + 1}",
                Bottleneck(
                    cin if i == 0 else cout,
                    cout,
                    stride if i == 0 else 1,
                    dilation,
                    i == 0,
                ),
            )
        return layer

    class ASPP(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            for i, rate in enumerate(rates):
                self.add_module(f"c{i}", nn.Conv2d(cin, cout, 3, 1, rate, rate))

        def forward(self, x):
            return sum(stage(x) for stage in self.children())

    model = nn.Sequential()
    stem = nn.Sequential()
    stem.add_module("conv1", ConvBnReLU(3, 64, 7, 2, 3, 1))
    stem.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))
    model.add_module("layer1", stem)
    model.add_module("layer2", res_layer(n_blocks[0], 64, 256, 1, 1))
    model.add_module("layer3", res_layer(n_blocks[1], 256, 512, 2, 1))
    model.add_module("layer4", res_layer(n_blocks[2], 512, 1024, 1, 2))
    model.add_module("layer5", res_layer(n_blocks[3], 1024, 2048, 1, 4))
    model.add_module("aspp", ASPP(2048, n_classes))
    return model


def main() -> int:
    import keras
    import torch

    torch.manual_seed(0)
    theirs = deeplab_pytorch_v2(torch, 5, (2, 2, 2, 2), (6, 12)).double()
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    theirs.eval()
    config = ModelConfig(
        num_classes=5,
        depth=50,
        units_per_stage=(2, 2, 2, 2),
        fc6_channels=32,
        head="aspp_v2",
        atrous_rates=(6, 12),
        output_stride=8,
        stem_pool_padding=1,
    )
    model = build_model(config)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "deeplabv2_resnet.pth"
        state = {f"base.{k}": v.float() for k, v in theirs.state_dict().items()}
        torch.save({"state_dict": state}, source)  # as its MSC wrapper saves it
        units = resnet_unit_names(config.depth, config.units_per_stage)
        result = plan_import(model, "torch", source, units=units, epsilon=1e-5)
    for path, value in result.values.items():
        next(v for v in model.weights if v.path == path).assign(value)
    images = np.random.default_rng(4).normal(0, 1, (1, 33, 45, 3)).astype(np.float32)
    ours = keras.Model(model.input, model.get_layer("aspp_sum").output)(images)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(images).double().permute(0, 3, 1, 2))
    expected = expected.permute(0, 2, 3, 1).numpy()
    difference = float(np.abs(np.asarray(ours) - expected).max())
    largest = float(np.abs(expected).max())
    print(
        f"deeplab-pytorch DeepLabV2 vs ours, {len(result.values)} tensors imported "
        f"(torch {torch.__version__}): largest logit {largest:.4g}, largest "
        f"difference {difference:.3g} ({difference / largest:.2g} of it)"
    )
    return 0 if difference <= TOLERANCE * largest else 1


if __name__ == "__main__":
    sys.exit(main())
