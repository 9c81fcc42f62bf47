"""Training test setup: the demo's data, converted once, and tiny run recipes."""

import pytest

from tfdeeplab.config import load_recipe
from tfdeeplab.demo import RECIPE, write_demo_shards


@pytest.fixture(scope="session")
def demo_shards(tmp_path_factory):
    """The demo's synthetic VOC + SBD data, converted by the real converter."""
    directory = tmp_path_factory.mktemp("demo_data")
    return write_demo_shards(directory, train_images=16, val_images=4, size=(48, 64))


def tiny_overrides(shards, *more) -> list[str]:
    """`--set` overrides turning recipes/demo.yaml into a seconds-long run."""
    return [
        f"data.root={shards}",
        "data.num_train_images=16",
        "data.crop_size=[33, 33]",
        "data.shuffle_buffer=8",
        "data.deterministic=true",
        "train.batch_size=2",
        "train.max_steps=6",
        "train.checkpoint_every=2",
        "train.log_every=1",
        "train.validation_images=2",
        "train.image_panels=2",
        *more,
    ]


def tiny_recipe(shards, *more):
    return load_recipe(RECIPE, tiny_overrides(shards, *more))
