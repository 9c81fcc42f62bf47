"""Training test fixtures: the demo's data, converted once."""

import pytest

from tfdeeplab.demo import write_demo_shards


@pytest.fixture(scope="session")
def demo_shards(tmp_path_factory):
    """The demo's synthetic VOC + SBD data, converted by the real converter."""
    directory = tmp_path_factory.mktemp("demo_data")
    return write_demo_shards(directory, train_images=16, val_images=4, size=(48, 64))
