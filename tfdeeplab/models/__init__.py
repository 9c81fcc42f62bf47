"""DeepLab models: ResNet-v1 atrous backbone, the DCN-paper and ASPP heads, MSC.

Names are imported on first use, so `tfdeeplab.models.resnet_layout` (the old name
of `tfdeeplab.catalog.resnet_layout`, pure Python) loads without Keras.
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "builder": ["build_model"],
        "heads": ["aspp_v2_head", "dcn_deeplab_head"],
        "layers": [
            "AlignedBilinearResize",
            "FixedBilinearUpsampling",
            "FrozenBatchNormalization",
            "MultiplierConv2D",
        ],
        "multipliers": ["Multipliers", "weight_multipliers"],
        "resnet": ["build_resnet_v1", "resnet_v1_features"],
    },
)
