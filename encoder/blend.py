"""A log-mel network blended with gradient-boosted trees on its own band statistics, as one Keras model.

The network and a tree ensemble err differently, and their weighted mean is
better on unseen kits than either (bench/blend_heldout.py, BENCHMARKS.md).
The trees read summary statistics of the network's fixed log-band front end
(`BandFeatures`: per band mean, maximum and spread over time; loudest frame,
its position, how many frames are within 1.5 units (about 40 dB) of it, and a
band centroid overall and over the first 32 ms), so the blend adds no second
spectrum: one front end, two heads, `(1 - w) x network + w x trees`.  The trees'
share w may depend on how much of the window sounds (`TreesShare`): the trees
help most on whole hits and least on the first tens of milliseconds, so an
early estimate (a window cut 25 ms after the onset, zeros after) leans on the
network and a whole one-shot more on the trees.
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

SILENCE = 1e-4
"""A window sounds up to its last sample above this magnitude (the window peak-normalised to 1; 1e-4 is -80 dB):
the zero padding after a cut window and a file's digital silence do not count ..."""
SOUNDING_BLOCK = 32
"""... found to this many samples (2 ms at 16 kHz): the end of the last block of the window holding such a sample
(block peaks first: two passes over the 16,000 samples instead of five)."""

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

        @keras.saving.register_keras_serializable(package="drumtimbre", name="TreesShare")
        class TreesShare(keras.layers.Layer):
            """audio (batch, samples, 1) -> (batch, 1) the trees' share by the window's sounding length: linear in
            log(ms) between anchors [[ms, share], ...], constant outside them (`share_by_length`'s Keras form)."""

            def __init__(self, anchors=((1000.0, 0.5),), sample_rate: int = 16000, **kwargs):
                super().__init__(**kwargs)
                self.anchors = check_anchors(anchors)
                self.sample_rate = int(sample_rate)

            def call(self, audio):
                ops = keras.ops
                n = audio.shape[1] // SOUNDING_BLOCK
                if n * SOUNDING_BLOCK != audio.shape[1]:
                    audio = audio[:, :n * SOUNDING_BLOCK]
                peaks = ops.max(ops.abs(ops.reshape(audio, (-1, n, SOUNDING_BLOCK))), axis=2)
                ends = ops.cast(ops.arange(1, n + 1), audio.dtype)  # in blocks
                last = ops.maximum(ops.max(ops.cast(peaks > SILENCE, audio.dtype) * ends, axis=1, keepdims=True), 1.0)
                (_, w0), *rest = self.anchors
                if not rest:
                    return ops.zeros_like(last) + w0
                # segment k rises 0 -> 1 from anchor k to k + 1, linear in log(ms): few ONNX nodes, all small
                log_ms = np.log([ms for ms, _ in self.anchors])
                slopes = 1.0 / np.diff(log_ms)
                offsets = (np.log(1000.0 * SOUNDING_BLOCK / self.sample_rate) - log_ms[:-1]) * slopes
                seg = ops.clip(ops.log(last) * slopes.astype("float32") + offsets.astype("float32"), 0.0, 1.0)
                rises = np.diff([w for _, w in self.anchors]).astype("float32")[:, None]
                return ops.matmul(seg, rises) + w0

            def compute_output_shape(self, input_shape):
                return (input_shape[0], 1)

            def get_config(self):
                return {**super().get_config(), "anchors": [list(a) for a in self.anchors],
                        "sample_rate": self.sample_rate}

        @keras.saving.register_keras_serializable(package="drumtimbre", name="Blend")
        class Blend(keras.layers.Layer):
            """[network, trees] -> (1 - weight) x network + weight x trees; [network, trees, share] (share
            (batch, 1), from TreesShare) -> (1 - share) x network + share x trees (`weight` unused)."""

            def __init__(self, weight: float = 0.5, **kwargs):
                super().__init__(**kwargs)
                self.weight = float(weight)

            def call(self, inputs):
                network, trees, *share = inputs
                w = share[0] if share else self.weight
                return (1.0 - w) * network + w * trees

            def compute_output_shape(self, input_shapes):
                return input_shapes[0]

            def get_config(self):
                return {**super().get_config(), "weight": self.weight}

        _LAYERS["BandFeatures"], _LAYERS["Blend"], _LAYERS["TreesShare"] = BandFeatures, Blend, TreesShare
    return _LAYERS["BandFeatures"]


def blend_layer_class():
    """The Keras layer `Blend` (registered as drumtimbre>Blend)."""
    features_layer_class()
    return _LAYERS["Blend"]


def share_layer_class():
    """The Keras layer `TreesShare` (registered as drumtimbre>TreesShare)."""
    features_layer_class()
    return _LAYERS["TreesShare"]


def custom_objects() -> dict:
    """The blend's layers, for `keras.saving.load_model`."""
    return {"drumtimbre>BandFeatures": features_layer_class(), "drumtimbre>Blend": blend_layer_class(),
            "drumtimbre>TreesShare": share_layer_class(), "drumtimbre>TreeEnsemble": trees_layer_class()}


Anchors = tuple[tuple[float, float], ...]
"""The trees' share by sounding length: ((ms, share 0-1), ...), ms ascending."""


def check_anchors(anchors) -> Anchors:
    """`anchors` as a tuple of (ms, share) float pairs; ValueError unless ms > 0 ascend and shares are 0-1."""
    try:
        out = tuple((float(ms), float(w)) for ms, w in anchors)
    except (TypeError, ValueError):
        raise ValueError(f"blend anchors {anchors!r}: expected pairs (ms, share)") from None
    if not out:
        raise ValueError("blend anchors: none given")
    for i, (ms, w) in enumerate(out):
        if not (ms > 0 and 0.0 <= w <= 1.0) or (i and not ms > out[i - 1][0]):
            raise ValueError(f"blend anchors {anchors!r}: ms must be > 0 and ascend, shares 0-1")
    return out


def sounding_ms(x: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(n, samples) prepared windows -> (n,) ms from the window's start to the end of the last SOUNDING_BLOCK
    holding a sample above SILENCE (at least one block's worth)."""
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[1] // SOUNDING_BLOCK
    above = np.abs(x[:, :n * SOUNDING_BLOCK].reshape(len(x), n, SOUNDING_BLOCK)).max(axis=2) > SILENCE
    last = np.where(above.any(axis=1), n - np.argmax(above[:, ::-1], axis=1), 1)
    return last * (1000.0 * SOUNDING_BLOCK / sample_rate)


def share_by_length(ms: np.ndarray, anchors: Anchors) -> np.ndarray:
    """The trees' share (0-1) at sounding lengths `ms`: linear in log(ms) between the anchors, constant outside."""
    anchors = check_anchors(anchors)
    return np.interp(np.log(np.asarray(ms, dtype=np.float64)), [np.log(m) for m, _ in anchors],
                     [w for _, w in anchors])


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
    """A fitted forest (`fit_forest`), its trees per descriptor and its fitting time in seconds."""

    forest: Forest
    iterations: list[int]  # trees per descriptor (early stopping)
    seconds: float  # wall-clock fitting time, seconds


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


SHORT_UNTIL = ((24.0, 1.0), (26.0, 0.0))
"""Anchors of the short forest's share: all of the trees' part for windows sounding 24 ms or less (an early
estimate from fewer than 25 ms of audio), none from 26 ms (the next 2 ms block): longer windows are the long
forest's alone."""


def blend_model(net, forest: Forest, weight: float | Anchors, short_forest: Forest | None = None):
    """One Keras model: (1 - w) x `net` + w x `forest` on `net`'s band features; `weight` a share w (0-1), or
    anchors ((ms, share), ...) for a share by the window's sounding length (`share_by_length`).  With
    `short_forest` (shares by length only), windows sounding at most 24 ms use it in place of `forest`
    (SHORT_UNTIL): the network was trained on windows of 25 ms and more."""
    import keras

    by_length = not isinstance(weight, float | int)
    if by_length:
        weight = check_anchors(weight)
    elif not 0.0 <= weight <= 1.0:
        raise ValueError(f"blend weight {weight}: expected 0-1")
    if short_forest is not None and not by_length:
        raise ValueError("a short-window forest needs shares by sounding length (anchors), not a fixed weight")
    feats = _band_features(net)
    for f in (forest, short_forest):
        if f is not None and feats.shape[-1] < f.features:
            raise ValueError(f"the trees use feature {f.features - 1}; the network gives {feats.shape[-1]}")
    trees = trees_layer_class().of(forest, name="trees")(feats)
    if short_forest is not None:
        short = trees_layer_class().of(short_forest, name="trees_short")(feats)
        use_short = share_layer_class()(SHORT_UNTIL, name="short_share")(net.input)
        trees = blend_layer_class()(0.0, name="trees_mix")([trees, short, use_short])
    heads = [net.output, trees]
    if by_length:
        heads.append(share_layer_class()(weight, name="trees_share")(net.input))
    out = blend_layer_class()(0.0 if by_length else float(weight), name="blend")(heads)
    return keras.Model(net.input, out, name=f"{net.name}_blend")


@dataclass
class BlendParts:
    """The parts of a blend model (`parts`): its network and trees heads, and how they are mixed."""

    network: object
    """The network's output tensor."""
    features: object
    """The trees' input features tensor."""
    forest: Forest
    weight: float | Anchors
    """The trees' share, or its anchors by sounding length."""
    share: object | None
    """The share tensor (batch, 1) of a share by length, else None."""
    short_forest: Forest | None = None
    """The forest for windows sounding at most 24 ms, if any ..."""
    short_share: object | None = None
    """... and its share tensor (batch, 1): 1 for those windows, 0 for longer ones."""


def trees_part(long: np.ndarray, short: np.ndarray | None, ms: np.ndarray) -> np.ndarray:
    """The trees' part (n, 7) as the model mixes it: the short forest's output `short` (None: no short forest)
    for windows sounding `ms` at most 24 ms, the long forest's `long` for longer ones (SHORT_UNTIL)."""
    if short is None:
        return long
    u = share_by_length(ms, SHORT_UNTIL)[:, None]
    return (1.0 - u) * long + u * short


def parts(model) -> BlendParts | None:
    """The parts of a blend model, or None for any other model."""
    names = {layer.name for layer in model.layers}
    if not {"blend", "trees", "band_features"} <= names:
        return None
    blend, trees = model.get_layer("blend"), model.get_layer("trees")
    share = model.get_layer("trees_share") if "trees_share" in names else None
    short = {}
    if "trees_short" in names:
        short = {"short_forest": model.get_layer("trees_short").forest(),
                 "short_share": model.get_layer("short_share").output}
    return BlendParts(blend.input[0], trees.input, trees.forest(), share.anchors if share else blend.weight,
                      share.output if share else None, **short)


def describe_weight(weight: float | Anchors) -> str:
    """'0.3', or '0.1 at 25 ms, 0.3 at 100 ms, 0.5 at 1000 ms'."""
    if isinstance(weight, float | int):
        return f"{weight:g}"
    return ", ".join(f"{w:g} at {ms:g} ms" for ms, w in weight)
