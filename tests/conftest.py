"""Shared test setup: quiet TensorFlow, two logical CPU devices, small model configs."""

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.helpers import tiny_model  # noqa: E402
from tfdeeplab.config import ModelConfig  # noqa: E402

# Two logical devices on the one CPU, so tf.distribute strategies run with 2 replicas.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)


@pytest.fixture(scope="session")
def two_replicas() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy over the two logical CPUs, shared by the whole session.

    Each MirroredStrategy numbers its collective ops from the same keys, and the
    process caches collective instances by key: a second strategy in one process
    would meet the first one's instances ("Shape mismatch in the collective
    instance"). A training process makes one strategy, and so do the tests.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture
def tiny_model_config() -> ModelConfig:
    """A 2-2-2-2 unit ResNet-50-style DeepLab, small enough for 65x65 tests."""
    return tiny_model()


@pytest.fixture(scope="session")
def demo_shards(tmp_path_factory):
    """The demo's synthetic VOC + SBD data, converted by the real converter."""
    from tfdeeplab.experiment.demo_job import write_demo_shards

    directory = tmp_path_factory.mktemp("demo_data")
    return write_demo_shards(directory, train_images=16, val_images=4, size=(48, 64))


@pytest.fixture(scope="session")
def trained_run(demo_shards, tmp_path_factory):
    """A tiny run of recipes/demo.yaml on `demo_shards`: 6 steps, checkpoints 2-6."""
    from tests.helpers import tiny_overrides
    from tfdeeplab import train as train_cli
    from tfdeeplab.experiment.demo_job import RECIPE

    workdir = tmp_path_factory.mktemp("trained") / "run"
    code = train_cli.main(
        [
            str(RECIPE),
            "--workdir",
            str(workdir),
            "--no-progress",
            "--set",
            *tiny_overrides(demo_shards),
        ]
    )
    assert code == 0
    return workdir


@pytest.fixture(scope="session")
def folder_shards(tmp_path_factory):
    """A folder of 12 images and 5-class masks, converted by tfrecords_tools.folder
    (train 9, val 3), for the recipes that take their dataset from shards."""
    from tfdeeplab.synthetic_datasets import write_folder_tree
    from tfrecords_tools import folder

    root = tmp_path_factory.mktemp("folder_data")
    images, masks, _ = write_folder_tree(root, [f"{i:04d}" for i in range(12)])
    classes = root / "classes.txt"
    classes.write_text("background\nred\ngreen\nolive\nnavy\n")
    out = root / "shards"
    args = ["--images", str(images), "--masks", str(masks), "--out", str(out)]
    more = ["--classes", str(classes), "--val-fraction", "0.25", "--name", "mine"]
    assert folder.main([*args, *more, "--quiet", "--workers", "1"]) == 0
    return out


@pytest.fixture
def ctrl_c_interrupts():
    """SIGINT raises KeyboardInterrupt in this process for the test, and the
    processes it starts begin with SIGINT at its default (Python installs its
    handler), however the suite was started: a background job inherits SIGINT
    ignored, and an ignored signal stays ignored across exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def server():
    """(base URL, Routes) of a server running for the test."""
    import http.server
    import threading

    from tests.helpers import LoopbackHandler, Routes

    routes = Routes()
    handler = type("Handler", (LoopbackHandler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
