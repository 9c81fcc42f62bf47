"""The one place where a recipe becomes a `SegmentationServer` and its assets, a
`FixedSizeNetwork`, and the tiles of real images its file formats are checked on."""

from __future__ import annotations

import json
from collections.abc import Sequence

import keras
import yaml

from tfdeeplab.catalog.datasets import DatasetDescriptor
from tfdeeplab.config.loader import recipe_to_dict
from tfdeeplab.config.schema import Recipe
from tfdeeplab.evaluation.builder import inference_settings
from tfdeeplab.export.calibration import fit_to_size, mean_rgb
from tfdeeplab.export.fixed_size import FixedSizeNetwork
from tfdeeplab.export.labels_file import LABELS_FILE, labels_record
from tfdeeplab.export.serving import SegmentationServer
from tfdeeplab.run_directory import RECIPE_FILE


def serving_server(
    recipe: Recipe, model: keras.Model, *, portable: bool = True
) -> SegmentationServer:
    """`model` with the recipe's normalisation and `eval` protocol (no CRF).

    Args:
        recipe: Recipe.
        model: keras.Model from `build_model`, weights loaded.
        portable: bool. Hold the pure-TensorFlow deformable convolution, so a
            SavedModel of it loads without tfdeeplab (export); False keeps the
            fastest implementation for this process (prediction). Defaults to True.

    Example:
        >>> server = serving_server(recipe, model)
    """
    return SegmentationServer(
        model,
        inference_settings(recipe),
        channel_order=recipe.data.channel_order,
        mean=recipe.data.mean,
        num_classes=recipe.model.num_classes,
        portable=portable,
    )


def export_assets(recipe: Recipe, dataset: DatasetDescriptor) -> dict[str, str]:
    """The SavedModel's asset files: the resolved `recipe.yaml` and `labels.json`
    (what the label indices mean: `labels_file.labels_record`).

    Args:
        recipe: Recipe.
        dataset: DatasetDescriptor. The recipe's (`Experiment.dataset`).

    Example:
        >>> sorted(export_assets(recipe, experiment.dataset))
        ['labels.json', 'recipe.yaml']
    """
    labels = labels_record(dataset, recipe.model.num_classes)
    return {
        RECIPE_FILE: yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False),
        LABELS_FILE: json.dumps(labels, indent=1) + "\n",
    }


def fixed_size_network(
    recipe: Recipe, model: keras.Model, size: tuple[int, int]
) -> FixedSizeNetwork:
    """`model` with the recipe's channel order and mean, at one input size.

    Example:
        >>> network = fixed_size_network(recipe, model, (321, 321))
    """
    return FixedSizeNetwork(model, size, recipe.data.channel_order, recipe.data.mean)


def split_tiles(
    recipe: Recipe, files: Sequence[str], count: int, size: tuple[int, int]
) -> list:
    """(uint8 RGB [1, H, W, 3], label [H, W]) of a split's first `count` images,
    each cut to `size` around its centre and padded with the mean colour (its
    label with the ignore label) where smaller.

    Args:
        recipe: Recipe. Its channel order, mean and ignore label.
        files: the split's shards (`Experiment.shard_files`).
        count: int. Images to take.
        size: (height, width).

    Example:
        >>> files = experiment.shard_files("train_aug")
        >>> images = [rgb for rgb, _ in split_tiles(recipe, files, 100, size)]
    """
    from tfdeeplab.data.builder import eval_dataset

    data = recipe.data
    fill = mean_rgb(data.channel_order, data.mean)
    ignore = data.ignore_label
    tiles = []
    for example in eval_dataset(recipe, files).take(count):
        rgb = fit_to_size(example["rgb"].numpy(), size, fill)
        label = fit_to_size(example["label"].numpy(), size, ignore)
        tiles.append((rgb[None], label))
    return tiles
