"""Choosing the tf.distribute strategy a run trains under.

`auto` picks what the machine offers: MultiWorkerMirroredStrategy when `TF_CONFIG`
names a cluster (several machines, or several processes on one), MirroredStrategy over
the visible GPUs when there are two or more, else the default strategy on the one
device. Batch sizes in recipes are per replica, so the global batch follows the
replicas the strategy finds.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfdeeplab.catalog import choices
from tfdeeplab.catalog.choices import implemented, lookup
from tfdeeplab.errors import TfdeeplabError


class DistributionError(TfdeeplabError, ValueError):
    """A strategy that cannot be built; the message says what is missing."""


def cluster_from_env() -> dict | None:
    """The `cluster` of the TF_CONFIG environment variable, or None if it names none.

    Raises:
        DistributionError: one line, for a TF_CONFIG that is not JSON.
    """
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise DistributionError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    return cluster or None


def _local_devices() -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return [device.name for device in gpus]
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def build_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """The strategy named by a recipe's `train.distribution`.

    Args:
        kind: str. `auto`, `one_device`, `mirrored` or `multi_worker`.

    Returns:
        tf.distribute.Strategy.

    Raises:
        DistributionError: for `multi_worker` without a cluster in TF_CONFIG.
        UnknownChoiceError: an unknown kind.

    Example:
        >>> strategy = build_strategy("auto")
        >>> global_batch = recipe.train.batch_size * strategy.num_replicas_in_sync
    """
    cluster = cluster_from_env()
    return lookup(STRATEGIES, kind, "train.distribution")(cluster)


def _auto(cluster: dict | None) -> tf.distribute.Strategy:
    if cluster:
        return _multi_worker(cluster)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return _mirrored(cluster)
    return _one_device(cluster)


def _one_device(cluster: dict | None) -> tf.distribute.Strategy:
    return tf.distribute.get_strategy()


def _mirrored(cluster: dict | None) -> tf.distribute.Strategy:
    return tf.distribute.MirroredStrategy(_local_devices())


def _multi_worker(cluster: dict | None) -> tf.distribute.Strategy:
    if not cluster:
        raise DistributionError(
            "train.distribution is multi_worker but TF_CONFIG names no cluster; "
            "set TF_CONFIG on every worker (see README, 'Several machines')"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


STRATEGIES = implemented(
    choices.DISTRIBUTIONS,
    {
        "auto": _auto,
        "one_device": _one_device,
        "mirrored": _mirrored,
        "multi_worker": _multi_worker,
    },
)


def evaluation_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """The strategy an evaluation on this machine spreads its images over.

    Evaluation runs in one process: `auto` and `multi_worker` become
    MirroredStrategy over this machine's GPUs when there are two or more (else the
    one device); `mirrored` and `one_device` are taken as they are.

    Args:
        kind: str. The recipe's `train.distribution`.

    Example:
        >>> with evaluation_strategy("auto").scope():
        ...     model = build_model(recipe.model)
    """
    if kind in ("auto", "multi_worker"):  # TF_CONFIG's cluster is for training
        several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
        kind = "mirrored" if several_gpus else "one_device"
    return build_strategy(kind)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints and summaries (task 0 or chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
