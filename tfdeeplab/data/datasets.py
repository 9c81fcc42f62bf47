"""The dataset table, by its earlier name: it lives in `tfdeeplab.catalog.datasets`."""

from tfdeeplab.catalog.datasets import (
    DATASETS,
    VOC_CLASSES,
    DatasetDescriptor,
    DescriptorError,
    SubmissionFormat,
    UnknownDatasetError,
    dataset_descriptor,
)

__all__ = [
    "DATASETS",
    "VOC_CLASSES",
    "DatasetDescriptor",
    "DescriptorError",
    "SubmissionFormat",
    "UnknownDatasetError",
    "dataset_descriptor",
]
