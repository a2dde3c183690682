"""Keras -> ONNX export with the model's contract embedded (TensorFlow imported lazily)."""
