"""ResNet-v1 unit counts and the MSRA/Caffe names of their residual units.

Pure Python (no TensorFlow), so recipes can be validated before anything heavy loads.
The names follow the released Caffe models: ResNet-50 letters every unit (res3a..res3d);
ResNet-101/152 letter stages of up to three units and number the rest after the first
(res4a, res4b1, ..., res4b22).
"""

from __future__ import annotations

import string

# Bottleneck units per stage (res2, res3, res4, res5), He et al. 2016, Table 1.
RESNET_UNITS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


def resnet_unit_names(
    depth: int, units_per_stage: tuple[int, ...] | None = None
) -> dict[str, tuple[str, ...]]:
    """Caffe names of the residual units of a ResNet-v1, by stage.

    Args:
        depth: int. 50, 101 or 152; picks the naming style and, unless
            `units_per_stage` is given, the unit counts.
        units_per_stage: four ints or None. Units in res2..res5 instead of the
            depth's standard counts (small networks for tests). Defaults to None.

    Returns:
        A dict from stage name (`res2`..`res5`) to its unit names in order.

    Raises:
        KeyError: for a depth not in `RESNET_UNITS`.

    Example:
        >>> resnet_unit_names(101)["res3"]
        ('res3a', 'res3b1', 'res3b2', 'res3b3')
    """
    names = {}
    counts = RESNET_UNITS[depth] if not units_per_stage else tuple(units_per_stage)
    if len(counts) != 4 or min(counts) < 1:
        raise ValueError(f"units_per_stage needs four counts >= 1, got {counts}")
    for stage_index, num_units in enumerate(counts, start=2):
        stage = f"res{stage_index}"
        if depth > 50 and num_units > 3:
            units = [f"{stage}a"] + [f"{stage}b{i}" for i in range(1, num_units)]
        else:
            units = [f"{stage}{string.ascii_lowercase[i]}" for i in range(num_units)]
        names[stage] = tuple(units)
    return names
