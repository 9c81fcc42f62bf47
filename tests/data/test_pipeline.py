"""Training and evaluation input: SPEC §3 augmentation, determinism, distribution."""

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import eval_images, train_batches
from tfdeeplab.config import load_recipe
from tfdeeplab.shard_format import serialize_example

RECIPE = Path(__file__).parents[2] / "recipes" / "voc.yaml"
MEAN = np.array([104.0, 116.0, 122.0])
# Each class has its own colour, so a label is a function of its pixel's colour.
PALETTE = np.random.default_rng(0).integers(0, 250, size=(21, 3)).astype(np.uint8)


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def blocky_example(rng, height, width, block=8):
    """An image of constant blocks whose label is the block's class."""
    classes = rng.integers(0, 21, size=(-(-height // block), -(-width // block)))
    label = np.kron(classes, np.ones((block, block), int))[:height, :width].astype(
        np.uint8
    )
    return PALETTE[label], label


def write_split(root, split, examples, per_shard):
    root.mkdir(parents=True, exist_ok=True)
    chunks = [examples[i : i + per_shard] for i in range(0, len(examples), per_shard)]
    for index, chunk in enumerate(chunks):
        path = root / f"{split}-{index:05d}-of-{len(chunks):05d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for name, image, label in chunk:
                writer.write(
                    serialize_example(
                        image=png(image),
                        image_format="png",
                        height=image.shape[0],
                        width=image.shape[1],
                        filename=name,
                        label_png=png(label),
                    )
                )


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(1)
    examples = [
        (f"img{i:03d}", *blocky_example(rng, 40 + i % 7, 56 - i % 5)) for i in range(24)
    ]
    write_split(root, "train_aug", examples, per_shard=6)
    write_split(root, "val", examples[:5], per_shard=5)
    return root, examples


def recipe_for(root, *overrides):
    return load_recipe(
        RECIPE,
        [
            f"data.root={root}",
            "data.crop_size=[32, 32]",
            "train.batch_size=4",
            "data.shuffle_buffer=16",
            *overrides,
        ],
    )


def colour_to_label(images_bgr_minus_mean):
    """Invert the colour coding: normalised BGR back to classes (255 = white pad)."""
    rgb = (images_bgr_minus_mean + MEAN)[..., ::-1]
    distances = np.abs(rgb[..., None, :] - PALETTE.astype(float)).sum(-1)
    classes = distances.argmin(-1)
    white = np.abs(rgb - 255).sum(-1) < 1e-3
    return np.where(white, 255, classes), distances.min(-1)


def test_labels_stay_aligned_with_nearest_resize(shards):
    recipe = recipe_for(
        shards[0], "data.image_interpolation=nearest", "data.deterministic=true"
    )
    for images, labels in train_batches(recipe).take(6):
        decoded, distance = colour_to_label(images.numpy())
        assert distance.max() < 1e-3
        np.testing.assert_array_equal(decoded, labels.numpy())


def test_labels_stay_aligned_with_bilinear_resize(shards):
    recipe = recipe_for(shards[0], "data.deterministic=true")
    agree = total = 0
    for images, labels in train_batches(recipe).take(6):
        decoded, distance = colour_to_label(images.numpy())
        exact = distance < 1e-3  # pixels inside a block, away from blended edges
        agree += np.sum(decoded[exact] == labels.numpy()[exact])
        total += np.sum(exact)
    assert total > 0.5 * 6 * 4 * 32 * 32
    assert agree == total


def test_padding_is_centred_white_and_ignored(tmp_path):
    image = np.full((10, 12, 3), [10, 20, 30], np.uint8)
    label = np.full((10, 12), 7, np.uint8)
    write_split(tmp_path, "train_aug", [("small", image, label)], per_shard=1)
    recipe = recipe_for(
        tmp_path,
        "data.crop_size=[20, 20]",
        "train.batch_size=1",
        "data.scale_range=[1.0, 1.0]",
        "data.flip_probability=0.0",
    )
    images, labels = next(iter(train_batches(recipe)))
    images, labels = images.numpy()[0], labels.numpy()[0]
    inside = np.zeros((20, 20), bool)
    inside[5:15, 4:16] = True  # top = (20 - 10) // 2, left = (20 - 12) // 2
    np.testing.assert_array_equal(labels[inside], 7)
    np.testing.assert_array_equal(labels[~inside], 255)
    np.testing.assert_allclose(
        images[inside], np.tile([30 - 104, 20 - 116, 10 - 122], (100 + 20, 1))
    )
    np.testing.assert_allclose(
        images[~inside], np.tile(255 - MEAN, ((~inside).sum(), 1))
    )


def test_rgb_channel_order_and_mean(tmp_path):
    image = np.full((24, 24, 3), [10, 20, 30], np.uint8)
    write_split(
        tmp_path,
        "train_aug",
        [("one", image, np.zeros((24, 24), np.uint8))],
        per_shard=1,
    )
    recipe = recipe_for(
        tmp_path,
        "data.crop_size=[8, 8]",
        "train.batch_size=1",
        "data.channel_order=rgb",
        "data.mean=[1, 2, 3]",
    )
    images, _ = next(iter(train_batches(recipe)))
    np.testing.assert_allclose(
        images.numpy(), np.broadcast_to([9, 18, 27], (1, 8, 8, 3))
    )


def test_flip_flips_image_and_label_together(tmp_path):
    image = np.broadcast_to(PALETTE[0], (16, 16, 3)).copy()
    image[:, :4] = PALETTE[3]
    label = np.zeros((16, 16), np.uint8)
    label[:, :4] = 3
    write_split(tmp_path, "train_aug", [("left", image, label)], per_shard=1)
    common = [
        "data.crop_size=[16, 16]",
        "train.batch_size=1",
        "data.scale_range=[1.0, 1.0]",
    ]
    _, kept = next(
        iter(train_batches(recipe_for(tmp_path, *common, "data.flip_probability=0.0")))
    )
    images, flipped = next(
        iter(train_batches(recipe_for(tmp_path, *common, "data.flip_probability=1.0")))
    )
    assert np.all(kept.numpy()[0, :, :4] == 3)
    assert np.all(flipped.numpy()[0, :, -4:] == 3) and np.all(
        flipped.numpy()[0, :, :4] == 0
    )
    decoded, _ = colour_to_label(images.numpy())
    np.testing.assert_array_equal(decoded, flipped.numpy())


def test_same_seed_same_batches_other_seed_other_batches(shards):
    def batches(seed):
        recipe = recipe_for(shards[0], "data.deterministic=true", f"train.seed={seed}")
        return [(x.numpy(), y.numpy()) for x, y in train_batches(recipe).take(5)]

    first, again, other = batches(3), batches(3), batches(4)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert any(
        not np.array_equal(x1, x3)
        for (x1, _), (x3, _) in zip(first, other, strict=True)
    )


def test_mirrored_strategy_splits_the_global_batch_and_covers_each_record_once(
    tmp_path, two_replicas
):
    # Record i is uniformly labelled i, so any crop tells which record it came from.
    examples = [
        (f"r{i}", np.full((20, 24, 3), i, np.uint8), np.full((20, 24), i, np.uint8))
        for i in range(24)
    ]
    write_split(tmp_path, "train_aug", examples, per_shard=5)
    recipe = recipe_for(tmp_path, "data.crop_size=[8, 8]", "train.batch_size=3")
    strategy = two_replicas
    dataset = strategy.distribute_datasets_from_function(
        lambda context: train_batches(recipe, context, repeat=False)
    )
    per_replica_sizes, seen = [], []
    for _, labels in dataset:
        local = strategy.experimental_local_results(labels)
        assert len(local) == 2
        per_replica_sizes += [int(t.shape[0]) for t in local]
        seen += [int(label[0, 0]) for t in local for label in t.numpy()]
    assert set(per_replica_sizes) == {3}  # global batch 6, half on each replica
    assert sorted(seen) == list(range(24))  # every record exactly once


def test_eval_dataset_yields_whole_images(shards):
    root, examples = shards
    recipe = recipe_for(root)
    items = list(eval_images(recipe))
    assert [item["id"].numpy().decode() for item in items] == [
        name for name, _, _ in examples[:5]
    ]
    for item, (_, image, label) in zip(items, examples[:5], strict=True):
        np.testing.assert_array_equal(item["rgb"].numpy(), image)
        np.testing.assert_array_equal(item["label"].numpy(), label)
        np.testing.assert_allclose(item["image"].numpy(), image[..., ::-1] - MEAN)


def test_resumed_stream_continues_where_an_uninterrupted_one_is(tmp_path):
    examples = [
        (f"r{i}", np.full((20, 24, 3), i, np.uint8), np.full((20, 24), i, np.uint8))
        for i in range(24)
    ]
    write_split(tmp_path, "train_aug", examples, per_shard=5)
    recipe = recipe_for(
        tmp_path,
        "data.crop_size=[8, 8]",
        "train.batch_size=3",
        "data.deterministic=true",
    )

    def batches(start_step, count):
        dataset = train_batches(recipe, start_step=start_step).take(count)
        return [(x.numpy(), y.numpy()) for x, y in dataset]

    whole = batches(0, 20)  # 2.5 epochs of 8 batches
    first_epoch = sorted(int(y[0, 0]) for _, labels in whole[:8] for y in labels)
    assert first_epoch == list(range(24))
    for start in (5, 8, 13):
        resumed = batches(start, 20 - start)
        for (x1, y1), (x2, y2) in zip(whole[start:], resumed, strict=True):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)
