"""Published pretrained weights: a reader for each format, the importer, the
loader `--init` uses.

`python -m tfdeeplab.weights import --format FORMAT --source FILE --recipe RECIPE
--out FILE` (see `__main__`). Import from the modules themselves
(`tfdeeplab.weights.formats`, `.importer`, `.loader`, ...): this face imports
nothing, so that the command's `--help` loads no TensorFlow.
"""
