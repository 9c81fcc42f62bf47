"""The figures a reproduction is compared with (SPEC §1), and what each seed
recipe starts from: one table, read by `python -m tfdeeplab.reproduce`.

Pure facts, no TensorFlow. All mIoU are percent on the val split (VOC 2012 val:
1,449 images; Cityscapes val: 500).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PublishedResult:
    """One row of SPEC §1.

    Args:
        recipe: str. The shipped recipe's name.
        source: str. The seed config or paper row it reproduces.
        paper_miou: float or None. The paper's (or official) mIoU.
        seed_miou: float or None. The seed's own mIoU, where it reported one.
        init_artifact: str. The `fetch` artifact of its initial weights (of its
            pre-training when it has one).
        init_format: str. Their weight format (`python -m tfdeeplab.weights`).
        init_file: str. The weight file inside the artifact's folder.
        pretrain: str or None. A recipe trained first, whose run it starts from.
    """

    recipe: str
    source: str
    paper_miou: float | None
    seed_miou: float | None
    init_artifact: str = "resnet101_mxnet"
    init_format: str = "mxnet"
    init_file: str = "resnet_v1_101-0000.params"
    pretrain: str | None = None


_CAFFE = {
    "init_artifact": "resnet101_caffe",
    "init_format": "caffe",
    "init_file": "ResNet-101-model.caffemodel",
}

PUBLISHED_RESULTS = {
    row.recipe: row
    for row in (
        PublishedResult("voc", "deeplabv2.pascal", 70.7, 70.45),
        PublishedResult("voc_scale16", "deeplabv2.pascal.4gpu.scale16", 70.7, 71.7),
        PublishedResult("voc_dcn", "deeplabv2.pascal.dcn", 75.9, 74.7),
        PublishedResult(
            "cityscapes_scale4_longer",
            "deeplabv2.cs.scale4.officiallr.full.longer",
            70.3,
            69.4,
        ),
        PublishedResult(
            "cityscapes_dcn", "Deformable DeepLab, ResNet-v1-101", 75.2, None
        ),
        PublishedResult(
            "voc_aspp_msc",
            "DeepLab v2 paper: MSC+COCO+Aug+ASPP+CRF",
            77.69,
            None,
            pretrain="coco_voc_pretrain",  # COCO's VOC categories first, as the paper
            **_CAFFE,
        ),
        PublishedResult(
            "cityscapes_aspp",
            "DeepLab v2 paper: Full+Aug+ASPP+CRF",
            71.4,
            None,
            **_CAFFE,
        ),
    )
}
