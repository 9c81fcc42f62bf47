"""Converters from the datasets' own layouts to TFRecord shards.

`python -m tfrecords_tools.voc ...` (PASCAL VOC 2012 + SBD) and
`python -m tfrecords_tools.cityscapes ...` write shards in the record schema that
TensorFlow's official vision models read, with a manifest that makes runs resumable
and verifiable.
"""
