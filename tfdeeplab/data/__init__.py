"""Datasets: their facts, the shard format, and tf.data pipelines over the shards.

Names are imported on first use: `tfdeeplab.data.shard_format` loads without
TensorFlow (the converters' worker processes import it). The dataset table is
`tfdeeplab.catalog.datasets` (also importable as `tfdeeplab.data.datasets`).
"""

from tfdeeplab.lazy_imports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "augment": ["Augmentation", "augment"],
        "builder": ["augmentation_from_recipe", "eval_dataset", "train_dataset"],
        "datasets": ["DATASETS", "DatasetDescriptor", "dataset_descriptor"],
        "records": ["MissingShardsError", "decode_record", "shard_files"],
    },
)
