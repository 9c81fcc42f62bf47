"""Custom operations. Each op keeps its reference implementation and its Keras wrapper
side by side in its own package."""
