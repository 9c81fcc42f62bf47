"""The one place where a recipe becomes a `SegmentationServer` and its assets."""

from __future__ import annotations

import json

import keras
import yaml

from tfdeeplab.catalog.datasets import dataset_descriptor
from tfdeeplab.config.loader import recipe_to_dict
from tfdeeplab.config.schema import Recipe
from tfdeeplab.evaluation.builder import inference_settings
from tfdeeplab.export.serving import SegmentationServer


def serving_server(recipe: Recipe, model: keras.Model) -> SegmentationServer:
    """`model` with the recipe's normalisation and `eval` protocol (no CRF).
    Example:
        >>> server = serving_server(recipe, model)
    """
    return SegmentationServer(
        model,
        inference_settings(recipe),
        channel_order=recipe.data.channel_order,
        mean=recipe.data.mean,
        num_classes=recipe.model.num_classes,
    )


def labels_description(recipe: Recipe) -> dict:
    """What the label indices mean: dataset, class names, colours, ignore label.

    Example:
        >>> labels_description(recipe)["class_names"][15]
        'person'
    """
    descriptor = dataset_descriptor(recipe.data.dataset)
    classes = recipe.model.num_classes
    palette = descriptor.palette()
    return {
        "dataset": descriptor.name,
        "num_classes": classes,
        "class_names": [descriptor.class_name(i) for i in range(classes)],
        "palette": palette[:classes].tolist(),
        "ignore_label": descriptor.ignore_label,
        "ignore_colour": palette[descriptor.ignore_label].tolist(),
    }


def export_assets(recipe: Recipe) -> dict[str, str]:
    """The SavedModel's asset files: the resolved `recipe.yaml` and `labels.json`.

    Example:
        >>> sorted(export_assets(recipe))
        ['labels.json', 'recipe.yaml']
    """
    return {
        "recipe.yaml": yaml.safe_dump(recipe_to_dict(recipe), sort_keys=False),
        "labels.json": json.dumps(labels_description(recipe), indent=1) + "\n",
    }
