"""Export: the model with its whole inference in the graph, as a SavedModel,
TFLite or ONNX file.

`python -m tfdeeplab.export RECIPE --checkpoint PATH --out DIR` (see `__main__`).
Import from the modules themselves (`tfdeeplab.export.serving`, `.saved_model`,
`.builder`, ...): this face imports nothing, so that the command's `--help`
loads no TensorFlow.
"""
