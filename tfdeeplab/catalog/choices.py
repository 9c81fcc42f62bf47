"""The names of every choice a recipe makes, and how a choice is looked up.

Each choice is one table: the names here are the recipe schema's choices, and the
module that implements the choice keys its table of implementations by exactly
these names (`implemented` checks it when the module loads). A name is looked up
(`lookup`), never compared: an unknown one is an error where it is looked up,
through the Python API as through a recipe, instead of silently taking whatever
an `else` branch does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from tfdeeplab.errors import TfdeeplabError

# model
BATCH_NORMS = ("frozen", "train", "sync")
# Whether a BatchNorm mode keeps moving statistics per replica (Keras 3 does not
# average them; the first replica's are saved).
STATISTICS_PER_REPLICA = {"frozen": False, "train": True, "sync": False}
HEADS = ("dcn_deeplab", "aspp_v2")
# The `model` keys each head reads besides the ones every head reads.
HEAD_OPTIONS = {"dcn_deeplab": ("fc6_channels",), "aspp_v2": ("atrous_rates",)}
UPSAMPLINGS = ("deconv", "interp")
# data
IMAGE_INTERPOLATIONS = ("bilinear", "nearest")
CHANNEL_ORDERS = ("bgr", "rgb")
# train
SCHEDULE_TYPES = ("piecewise", "poly")
GRADIENT_REDUCTIONS = ("sum", "mean")
MIXED_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTIONS = ("auto", "one_device", "mirrored", "multi_worker")
LOSSES = ("cross_entropy", "ohem", "cross_entropy_dice")
CLASS_WEIGHTINGS = ("none", "median_frequency", "inverse_sqrt")  # or a list

T = TypeVar("T")


class UnknownChoiceError(TfdeeplabError, ValueError):
    """A name that is not one of a choice's names; the message lists them."""


def lookup(table: Mapping[str, T], name: str, choice: str) -> T:
    """`table[name]`, or one line naming the choice and its names.

    Example:
        >>> lookup({"sum": 1, "mean": 2}, "mean", "train.gradient_reduction")
        2
    """
    try:
        return table[name]
    except (KeyError, TypeError):
        known = ", ".join(repr(key) for key in table)
        raise UnknownChoiceError(
            f"{choice}: expected one of {known}, got {name!r}"
        ) from None


def implemented(names: Sequence[str], table: dict[str, T]) -> dict[str, T]:
    """`table`, checked to implement exactly the choice's `names`.

    Raises:
        RuntimeError: a name without an implementation, or an implementation of
            no name (a programming error, found when the module loads).

    Example:
        >>> HEAD_BUILDERS = implemented(HEADS, {"dcn_deeplab": f, "aspp_v2": g})
    """
    if set(table) != set(names):
        raise RuntimeError(f"implementations of {sorted(table)} for {list(names)}")
    return table
