"""Live input -> onsets -> per-hit windows -> ONNX Runtime -> OSC.  Importing it, and running listen, analyze,
onsets or predict with an ONNX model, never imports TensorFlow; only `predict` given a .keras model loads Keras."""
