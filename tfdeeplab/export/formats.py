"""The export formats and their names, without TensorFlow: the command line offers
them before anything heavy loads, and the writers follow them.

Example:
    >>> SUFFIXES["tflite"], MODEL_NAMES["onnx"]
    ('.tflite', 'an ONNX model')
"""

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("none", "float16", "int8")  # TFLite's
SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}
MODEL_NAMES = {"tflite": "a TFLite model", "onnx": "an ONNX model"}
# The runtime each single-file format is checked in: (module, pip package).
RUNTIMES = {
    "tflite": ("ai_edge_litert", "ai-edge-litert"),
    "onnx": ("onnxruntime",) * 2,
}
