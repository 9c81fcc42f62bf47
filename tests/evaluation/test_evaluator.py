"""evaluate_split: replicas and CRF processes change nothing in what is measured."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdeeplab.evaluation.confusion import confusion_matrix
from tfdeeplab.evaluation.crf import dense_crf
from tfdeeplab.evaluation.crf_pool import CrfPool, CrfWorkerError
from tfdeeplab.evaluation.evaluator import EmptySplitError, evaluate_split
from tfdeeplab.evaluation.inference import InferenceSettings, predict_probabilities
from tfdeeplab.models import build_model
from tfdeeplab.training.strategy import evaluation_strategy

SETTINGS = InferenceSettings(
    scales=(0.75, 1.0), window=(33, 33), flip=True, tile_batch=3
)
SIZES = ((40, 50), (33, 20), (61, 45))  # three: the last pair is half empty
CRF = {"iterations": 3, "bilateral_xy": 10.0}


def examples(num_classes=5, sizes=SIZES):
    """Images of different sizes, labels with the ignore label, as eval_dataset."""
    rng = np.random.default_rng(0)
    items = []
    for index, (height, width) in enumerate(sizes):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        label = rng.integers(0, num_classes, (height, width)).astype(np.int32)
        label[:3] = 255
        items.append(
            {
                "image": (rgb.astype(np.float32) - 120.0) / 60.0,
                "rgb": rgb,
                "label": label,
                "id": f"image{index}",
            }
        )
    return items


def as_dataset(items):
    return tf.data.Dataset.from_generator(
        lambda: iter(items),
        output_signature={
            "image": tf.TensorSpec([None, None, 3], tf.float32),
            "rgb": tf.TensorSpec([None, None, 3], tf.uint8),
            "label": tf.TensorSpec([None, None], tf.int32),
            "id": tf.TensorSpec([], tf.string),
        },
    )


def expected_labels(model, items, crf=None):
    """Each image's labels by the inference function (and CRF) called directly."""
    labels = []
    for item in items:
        probabilities = predict_probabilities(model, item["image"], SETTINGS).numpy()
        if crf is not None:
            probabilities = dense_crf(probabilities, item["rgb"], **crf)
        labels.append(probabilities.argmax(-1))
    return labels


def expected_matrix(items, labels, num_classes=5):
    return sum(
        confusion_matrix(item["label"], predicted, num_classes).numpy()
        for item, predicted in zip(items, labels, strict=True)
    )


def evaluate(model, items, **kwargs):
    seen = []
    result = evaluate_split(
        model,
        as_dataset(items),
        SETTINGS,
        5,
        progress=False,
        on_prediction=lambda example, labels: seen.append((example["id"], labels)),
        **kwargs,
    )
    return result, seen


def test_the_split_is_one_confusion_matrix_of_the_inference_functions_labels(
    tiny_model_config,
):
    model = build_model(tiny_model_config)
    items = examples()
    labels = expected_labels(model, items)
    result, seen = evaluate(model, items)
    assert result.images == 3
    np.testing.assert_array_equal(result.matrix, expected_matrix(items, labels))
    assert [name for name, _ in seen] == [b"image0", b"image1", b"image2"]
    for (_, got), want in zip(seen, labels, strict=True):
        np.testing.assert_array_equal(got, want)


def test_two_replicas_spread_the_images_and_sum_their_matrices(
    tiny_model_config, two_replicas
):
    model = build_model(tiny_model_config)
    with two_replicas.scope():
        replicated = build_model(tiny_model_config)
    replicated.set_weights(model.get_weights())
    items = examples()
    labels = expected_labels(model, items)
    result, seen = evaluate(replicated, items, strategy=two_replicas)
    # Three images on two replicas: the second call's idle replica adds nothing.
    assert result.images == 3
    np.testing.assert_array_equal(result.matrix, expected_matrix(items, labels))
    assert [name for name, _ in seen] == [b"image0", b"image1", b"image2"]
    for (_, got), want in zip(seen, labels, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_crf_in_worker_processes_equals_the_crf_in_line(tiny_model_config):
    keras.utils.set_random_seed(2)  # predicts two classes (seeds 0, 1, 3 one)
    model = build_model(tiny_model_config)
    items = examples()
    labels = expected_labels(model, items, crf=CRF)
    assert any(
        not np.array_equal(with_crf, without)
        for with_crf, without in zip(labels, expected_labels(model, items), strict=True)
    ), "the CRF must change something for this test to mean anything"
    result, seen = evaluate(model, items, crf=CRF, crf_workers=2)
    np.testing.assert_array_equal(result.matrix, expected_matrix(items, labels))
    for (_, got), want in zip(seen, labels, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_pool_yields_in_submission_order_with_bounded_work_in_flight():
    rng = np.random.default_rng(1)
    # A large image first: it finishes last, yet comes out first.
    sizes = [(300, 300), (8, 8), (9, 7), (5, 6), (7, 7)]
    inputs = [
        (
            rng.dirichlet(np.ones(3), size).astype(np.float32),
            rng.integers(0, 256, (*size, 3), dtype=np.uint8),
        )
        for size in sizes
    ]
    started = []

    def stream():
        for index, (probabilities, rgb) in enumerate(inputs):
            started.append(index)
            yield index, probabilities, rgb

    with CrfPool(CRF, workers=1) as pool:
        results = []
        for key, labels in pool.ordered(stream()):
            # At most 2 x workers images submitted ahead of the one yielded.
            assert len(started) - key <= 3
            results.append((key, labels))
    assert [key for key, _ in results] == list(range(len(sizes)))
    for (_, labels), (probabilities, rgb) in zip(results, inputs, strict=True):
        want = dense_crf(probabilities, rgb, **CRF).argmax(-1)
        np.testing.assert_array_equal(labels, want)


def test_a_dead_worker_is_a_one_line_error_naming_the_image():
    probabilities = np.full((20, 20, 3), 1 / 3, np.float32)
    rgb = np.zeros((20, 20, 3), np.uint8)
    with CrfPool(CRF, workers=1) as pool:
        pool.submit(probabilities, rgb).result()  # the worker runs
        for process in list(pool._executor._processes.values()):
            os.kill(process.pid, signal.SIGKILL)  # as the kernel's OOM killer does
        results = pool.ordered([("2007_000033", probabilities, rgb)])
        with pytest.raises(CrfWorkerError, match="died while refining 2007_000033"):
            next(results)


def test_an_empty_split_is_an_error(tiny_model_config):
    with pytest.raises(EmptySplitError):
        evaluate(build_model(tiny_model_config), [])


def test_evaluation_uses_this_machines_devices_not_the_training_cluster(monkeypatch):
    cluster = (
        '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": '
        '{"type": "worker", "index": 0}}'
    )
    monkeypatch.setenv("TF_CONFIG", cluster)
    for kind in ("auto", "multi_worker"):
        strategy = evaluation_strategy(kind)
        assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        assert strategy.num_replicas_in_sync == 1  # one CPU here
