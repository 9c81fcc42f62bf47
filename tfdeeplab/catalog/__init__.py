"""Pure facts the whole project reads: datasets, label tables, colours, ResNet layouts.

No TensorFlow, no Keras, and nothing that consumes a recipe: the recipe schema
(`tfdeeplab.config`) takes its choices from here, and so do the models, the data
pipelines, evaluation and the converters, so each fact is stated once.
"""
