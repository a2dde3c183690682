"""A log-mel network blended with gradient-boosted trees on its own band statistics, as one Keras model.

The network and a tree ensemble err differently, and their weighted mean is
better on unseen kits than either (bench/blend_heldout.py, BENCHMARKS.md).
The trees read summary statistics of the network's fixed log-band front end
(`BandFeatures`: per band mean, maximum and spread over time; loudest frame,
its position, how many frames are within 1.5 units (about 40 dB) of it, and a
band centroid overall and over the first 32 ms), so the blend adds no second
spectrum: one front end, two heads, `(1 - weight) x network + weight x trees`.
Trees are fitted by scikit-learn (`encoder.trees`), kept as non-trained
weights of a `TreeEnsemble` layer; the ONNX export writes them as one ONNX-ML
TreeEnsembleRegressor node.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from encoder.trees import Forest, from_sklearn, layer_class as trees_layer_class

ACTIVE_RANGE = 1.5
"""A frame is active when its loudest mel band is within this many scaled log units of the loudest frame's
(the front end's scale is ln(power) / 6, so 1.5 is 9 nepers, about 39 dB)."""
START_FRAMES = 4
"""Frames (of 8 ms) that make the 'start' centroid."""
CENTROID_SHARPNESS = 3.0
"""Band weights of the centroid are exp(3 x scaled log power): power^(1/2), so loud bands lead."""

_LAYERS: dict[str, type] = {}


def features_layer_class():
    """The Keras layer `BandFeatures` (registered as drumtimbre>BandFeatures)."""
    if "BandFeatures" not in _LAYERS:
        import keras

        @keras.saving.register_keras_serializable(package="drumtimbre", name="BandFeatures")
        class BandFeatures(keras.layers.Layer):
            """(batch, frames, low_bands + mel_bands) scaled log powers -> (batch, 3 x bands + 5) statistics."""

            def __init__(self, low_bands: int = 16, **kwargs):
                super().__init__(**kwargs)
                self.low_bands = int(low_bands)

            def call(self, s):
                ops = keras.ops
                mean = ops.mean(s, axis=1)
                spread = ops.sqrt(ops.maximum(ops.mean(s * s, axis=1) - mean * mean, 0.0))
                mel = s[:, :, self.low_bands:]
                frame = ops.max(mel, axis=2)  # loudest mel band per frame
                peak = ops.max(frame, axis=1, keepdims=True)
                active = ops.mean(ops.cast(frame > peak - ACTIVE_RANGE, s.dtype), axis=1, keepdims=True)
                frames = ops.cast(ops.arange(ops.shape(frame)[1]), s.dtype)
                # the first loudest frame (not ops.argmax: its TensorFlow form exports a Bitcast ONNX lacks)
                where = ops.min(ops.where(frame >= peak, frames, 1e9), axis=1, keepdims=True)
                w = ops.exp(CENTROID_SHARPNESS * mel)
                index = ops.cast(ops.arange(ops.shape(mel)[2]), s.dtype)
                centroid = ops.sum(w * index, axis=2) / ops.sum(w, axis=2)  # (batch, frames), in bands
                fw = ops.exp(CENTROID_SHARPNESS * (frame - peak))
                overall = ops.sum(centroid * fw, axis=1, keepdims=True) / ops.sum(fw, axis=1, keepdims=True)
                start = ops.mean(centroid[:, :START_FRAMES], axis=1, keepdims=True)
                return ops.concatenate([mean, ops.max(s, axis=1), spread, where, active, peak, overall, start],
                                       axis=1)

            def compute_output_shape(self, input_shape):
                return (input_shape[0], 3 * input_shape[2] + 5)

            def get_config(self):
                return {**super().get_config(), "low_bands": self.low_bands}

        @keras.saving.register_keras_serializable(package="drumtimbre", name="Blend")
        class Blend(keras.layers.Layer):
            """[network, trees] -> (1 - weight) x network + weight x trees."""

            def __init__(self, weight: float = 0.5, **kwargs):
                super().__init__(**kwargs)
                self.weight = float(weight)

            def call(self, inputs):
                network, trees = inputs
                return (1.0 - self.weight) * network + self.weight * trees

            def compute_output_shape(self, input_shapes):
                return input_shapes[0]

            def get_config(self):
                return {**super().get_config(), "weight": self.weight}

        _LAYERS["BandFeatures"], _LAYERS["Blend"] = BandFeatures, Blend
    return _LAYERS["BandFeatures"]


def blend_layer_class():
    """The Keras layer `Blend` (registered as drumtimbre>Blend)."""
    features_layer_class()
    return _LAYERS["Blend"]


def custom_objects() -> dict:
    """The blend's layers, for `keras.saving.load_model`."""
    return {"drumtimbre>BandFeatures": features_layer_class(), "drumtimbre>Blend": blend_layer_class(),
            "drumtimbre>TreeEnsemble": trees_layer_class()}


def _band_features(net):
    """The trees' input features (batch, 3 x bands + 5) as a tensor of `net`'s graph."""
    spec, low = _spectrum(net)
    return features_layer_class()(low, name="band_features")(spec)


def _spectrum(net):
    """The network's scaled log-band spectrum tensor (batch, frames, bands) and its number of low bands."""
    names = [layer.name for layer in net.layers]
    if "log_power" not in names:
        raise ValueError(f"{net.name}: not a log-mel family model (no log_power layer); only those can be blended")
    after = net.layers[names.index("log_power") + 1]
    if type(after).__name__ != "Rescaling":
        raise ValueError(f"{net.name}: expected the fixed Rescaling after log_power, found {type(after).__name__}")
    low = net.get_layer("low_power").output.shape[-1] if "low_power" in names else 0
    return after.output, int(low)


def feature_model(net):
    """Keras model: audio (batch, 16000, 1) -> the trees' input features (batch, 3 x bands + 5)."""
    import keras

    return keras.Model(net.input, _band_features(net), name="band_features")


def compute_features(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Features of (n, 16000) model inputs through `feature_model(...)`'s Keras model -> (n, features) float32."""
    out = [np.asarray(model(x[i:i + batch_size, :, None], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.output.shape[-1]), np.float32)


@dataclass
class ForestFit:
    forest: Forest
    iterations: list[int]  # trees per descriptor (early stopping)
    seconds: float


def fit_forest(features: np.ndarray, y_norm: np.ndarray, seed: int = 0, max_iter: int = 80,
               learning_rate: float = 0.2, max_depth: int | None = None) -> ForestFit:
    """One HistGradientBoostingRegressor per descriptor (MAE loss, early stopping on 15 % of the clips,
    at most 31 leaves a tree and `max_depth` levels)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    start = time.perf_counter()
    models = [HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=learning_rate, loss="absolute_error",
                                            random_state=seed, early_stopping=True, validation_fraction=0.15,
                                            max_depth=max_depth)
              .fit(features, y_norm[:, k]) for k in range(y_norm.shape[1])]
    return ForestFit(from_sklearn(models), [int(m.n_iter_) for m in models], time.perf_counter() - start)


def blend_model(net, forest: Forest, weight: float):
    """One Keras model: (1 - weight) x `net` + weight x `forest` on `net`'s band features."""
    import keras

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"blend weight {weight}: expected 0-1")
    feats = _band_features(net)
    if feats.shape[-1] < forest.features:
        raise ValueError(f"the trees use feature {forest.features - 1}; the network gives {feats.shape[-1]}")
    trees = trees_layer_class().of(forest, name="trees")(feats)
    out = blend_layer_class()(weight, name="blend")([net.output, trees])
    return keras.Model(net.input, out, name=f"{net.name}_blend")


def parts(model):
    """(network output tensor, features tensor, Forest, weight) of a blend model, or None for any other model."""
    names = {layer.name for layer in model.layers}
    if not {"blend", "trees", "band_features"} <= names:
        return None
    blend, trees = model.get_layer("blend"), model.get_layer("trees")
    return blend.input[0], trees.input, trees.forest(), blend.weight
