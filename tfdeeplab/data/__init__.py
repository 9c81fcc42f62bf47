"""Input pipelines over the converters' TFRecord shards."""

from tfdeeplab.data.augment import augment
from tfdeeplab.data.pipeline import eval_dataset, train_dataset
from tfdeeplab.data.records import MissingShardsError, decode_record, shard_files

__all__ = [
    "MissingShardsError",
    "augment",
    "decode_record",
    "eval_dataset",
    "shard_files",
    "train_dataset",
]
