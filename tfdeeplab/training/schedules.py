"""Learning-rate schedules as functions of the global step only (SPEC §3).

The seed counts training in scaled epochs: one logged epoch is `epoch_scale` passes,
iterations_per_epoch = floor(num_images / global_batch) * epoch_scale, and a piecewise
schedule [(e_1, lr_1), (e_2, lr_2), ...] gives lr_k while step < e_k *
iterations_per_epoch. DeepLab v2's poly schedule is base * (1 - step / total) ** power.
Because both depend on the step alone, a resumed run continues on the same curve.
`tfdeeplab.training.builder.build_schedule` makes the one a recipe describes.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def iterations_per_epoch(num_images: int, global_batch: int, epoch_scale: int) -> int:
    """floor(num_images / global_batch) * epoch_scale (the seed's definition).

    Example:
        >>> iterations_per_epoch(10582, 40, 16)  # deeplabv2.pascal.4gpu.scale16
        4224
    """
    return (num_images // global_batch) * epoch_scale


@keras.saving.register_keras_serializable(package="tfdeeplab")
class PiecewiseEpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr_k while step < e_k * iterations_per_epoch; the last rate after the end.

    Args:
        steps: sequence of (epoch, learning rate), epochs strictly increasing.
        iterations_per_epoch: int. Steps in one scaled epoch.

    Example:
        >>> schedule = PiecewiseEpochSchedule([(5, 1e-3), (8, 1e-4)], 4232)
        >>> float(schedule(21159)), float(schedule(21160))
        (0.001, 0.0001)
    """

    def __init__(self, steps: Sequence[Sequence[float]], iterations_per_epoch: int):
        self.steps = [(float(epoch), float(rate)) for epoch, rate in steps]
        self.iterations_per_epoch = int(iterations_per_epoch)

    def __call__(self, step):
        step = ops.cast(step, "float64")
        boundaries = ops.convert_to_tensor(
            [epoch * self.iterations_per_epoch for epoch, _ in self.steps], "float64"
        )
        rates = ops.convert_to_tensor([rate for _, rate in self.steps], "float32")
        passed = ops.sum(ops.cast(step >= boundaries, "int32"))
        return ops.take(rates, ops.minimum(passed, len(self.steps) - 1))

    def get_config(self):
        return {"steps": self.steps, "iterations_per_epoch": self.iterations_per_epoch}


@keras.saving.register_keras_serializable(package="tfdeeplab")
class PolySchedule(keras.optimizers.schedules.LearningRateSchedule):
    """base * (1 - step / total_steps) ** power, 0 from total_steps on (DeepLab v2).

    Args:
        base_learning_rate: float. The rate at step 0.
        total_steps: int. Steps of the whole run.
        power: float. Defaults to 0.9.
    """

    def __init__(self, base_learning_rate: float, total_steps: int, power: float = 0.9):
        self.base_learning_rate = float(base_learning_rate)
        self.total_steps = int(total_steps)
        self.power = float(power)

    def __call__(self, step):
        progress = ops.minimum(ops.cast(step, "float32") / self.total_steps, 1.0)
        return self.base_learning_rate * ops.power(1.0 - progress, self.power)

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "power": self.power,
        }
