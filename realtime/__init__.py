"""Live input -> onsets -> per-hit windows -> ONNX Runtime -> OSC.  Never imports TensorFlow."""
