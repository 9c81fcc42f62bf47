"""tf.data pipelines over the shards: records, augmentation, training batches and
evaluation images. The dataset table is `tfdeeplab.catalog.datasets`; the shards'
on-disk format is `tfdeeplab.shard_format`."""

from tfdeeplab.data.augment import Augmentation
from tfdeeplab.data.builder import augmentation_from_recipe, eval_dataset, train_dataset
from tfdeeplab.data.records import MissingShardsError, decode_record, shard_files

__all__ = [
    "Augmentation",
    "MissingShardsError",
    "augmentation_from_recipe",
    "decode_record",
    "eval_dataset",
    "shard_files",
    "train_dataset",
]
