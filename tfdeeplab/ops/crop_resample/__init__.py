"""CropResample: decoded image window -> normalised float crop, in one pass; and
CropLabels, the matching label crop.

`crop_resample` and `crop_labels` run the C++ kernels (`crop_resample_op.cc`,
compiled on first use by `tfdeeplab.ops.build`, loaded in `kernel.py`); the
`*_reference` functions (`reference.py`) are the same computations in plain
TensorFlow ops, the definitions the kernels are tested against and the fallback
where no C++ compiler is available.
"""

from tfdeeplab.ops.crop_resample.kernel import (
    crop_labels,
    crop_resample,
    crop_resample_available,
)
from tfdeeplab.ops.crop_resample.reference import (
    crop_labels_reference,
    crop_resample_reference,
)

__all__ = [
    "crop_labels",
    "crop_labels_reference",
    "crop_resample",
    "crop_resample_available",
    "crop_resample_reference",
]
