"""Choosing the strategy: TF_CONFIG parsing, `auto`, and which worker is the chief."""

import json
from types import SimpleNamespace

import pytest
import tensorflow as tf

from tfdeeplab.catalog.choices import UnknownChoiceError
from tfdeeplab.training.strategy import (
    DistributionError,
    build_strategy,
    cluster_from_env,
    is_chief,
)

CLUSTER = {"worker": ["localhost:12345", "localhost:12346"]}


def test_cluster_from_env(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster_from_env() is None
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker"}}))
    assert cluster_from_env() is None
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": CLUSTER}))
    assert cluster_from_env() == CLUSTER
    monkeypatch.setenv("TF_CONFIG", "{'cluster': 1}")
    with pytest.raises(DistributionError, match="TF_CONFIG is not valid JSON"):
        cluster_from_env()


def test_auto_on_a_machine_without_gpus_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = build_strategy("auto")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert build_strategy("one_device") is strategy


def test_multi_worker_needs_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError, match="TF_CONFIG names no cluster"):
        build_strategy("multi_worker")
    with pytest.raises(UnknownChoiceError) as raised:
        build_strategy("tpu")
    assert str(raised.value) == (
        "train.distribution: expected one of 'auto', 'one_device', 'mirrored', "
        "'multi_worker', got 'tpu'"
    )


def _with_task(task_type, task_id, cluster):
    spec = tf.train.ClusterSpec(cluster)
    resolver = SimpleNamespace(
        task_type=task_type, task_id=task_id, cluster_spec=lambda: spec
    )
    return SimpleNamespace(cluster_resolver=resolver)


def test_the_chief_is_task_chief_or_else_worker_0():
    assert is_chief(tf.distribute.get_strategy())
    assert is_chief(_with_task("worker", 0, CLUSTER))
    assert not is_chief(_with_task("worker", 1, CLUSTER))
    with_chief = {"chief": ["localhost:12340"], **CLUSTER}
    assert is_chief(_with_task("chief", 0, with_chief))
    assert not is_chief(_with_task("worker", 0, with_chief))
