"""Keras 1-D CNN architectures: the original study's four, and our own.

Input (batch, 16000, 1): 1 s at 16 kHz, peak-normalised, zero-padded.
Output (batch, 7): the descriptors, normalised 0-1 (linear last layer).
Imports TensorFlow/Keras: use only for training, evaluation and export.
"""
from __future__ import annotations

from typing import Callable

from encoder.descriptors import DESCRIPTORS, WINDOW_SAMPLES


def _keras():
    import keras  # noqa: PLC0415  (heavy import kept out of module import)

    return keras


def _study_cnn(name: str, filters: list[int], dense: list[int], first_stride: int = 1):
    """Conv1D(k=7, 'valid', ReLU) + MaxPool(2) per entry of `filters`; Flatten; Dense ReLU layers; Dense(7)."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    x = inp
    for i, f in enumerate(filters):
        x = L.Conv1D(f, 7, strides=first_stride if i == 0 else 1, padding="valid", activation="relu")(x)
        x = L.MaxPooling1D(2)(x)
    x = L.Flatten()(x)
    for units in dense:
        x = L.Dense(units, activation="relu")(x)
    out = L.Dense(len(DESCRIPTORS), name="descriptors")(x)
    return keras.Model(inp, out, name=name)


def big():
    """Study 'big': Conv 100-50-20-10-4, Dense 1000-100-7 (2,122,371 parameters)."""
    return _study_cnn("big", [100, 50, 20, 10, 4], [1000, 100])


def seven_filters():
    """Study reference '7 filters': 5 x Conv 7, Dense 100-7 (348,063 parameters)."""
    return _study_cnn("seven_filters", [7] * 5, [100])


def mid():
    """Study 'mid': Conv 50-10, Dense 7 ReLU-7 (283,623 parameters)."""
    return _study_cnn("mid", [50, 10], [7])


def small():
    """Study 'small': one Conv 7 filters stride 3, Dense 7 (130,697 parameters)."""
    return _study_cnn("small", [7], [], first_stride=3)


def _pooled_cnn(name: str, channels: tuple[int, ...], dense: int):
    """Our design: strided learned filterbank, strided + dilated conv stack, global pooling over time.

    Conv1D(c0, 32, stride 8) is a bank of 2 ms filters with a 0.5 ms hop; each
    further Conv1D(k=5, stride 2) halves the frame rate (8 ms hop after four);
    the last conv is dilated (k=3, dilation 2) to widen the receptive field to
    about 60 ms.  BatchNorm + ReLU after every conv.  Global average and
    global max pooling over time (concatenated) make the head independent of
    the window length: a 25 ms window and a 1 s window feed the same Dense
    layers, unlike the study's Flatten -> Dense.
    """
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    x = inp
    specs = [(channels[0], 32, 8, 1)] + [(c, 5, 2, 1) for c in channels[1:-1]] + [(channels[-1], 3, 1, 2)]
    for filters, kernel, stride, dilation in specs:
        x = L.Conv1D(filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.Concatenate()([L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)])
    x = L.Dense(dense, activation="relu")(x)
    out = L.Dense(len(DESCRIPTORS), name="descriptors")(x)
    return keras.Model(inp, out, name=name)


_LOG_LAYER = None


def log_layer_class():
    """The `Log` layer (log(x + floor)), registered with Keras as 'drumtimbre>Log'.

    The only non-standard layer of our models; it is one ONNX `Log` (plus an
    `Add`) after export.  Loading a `.keras` file that uses it needs this
    function called first, or `custom_objects()` passed to `load_model`.
    """
    global _LOG_LAYER
    if _LOG_LAYER is None:
        keras = _keras()

        @keras.saving.register_keras_serializable(package="drumtimbre")
        class Log(keras.layers.Layer):
            """Natural log of (x + floor): dB-like compression of band energies."""

            def __init__(self, floor: float = 1e-4, **kwargs):
                super().__init__(**kwargs)
                self.floor = float(floor)

            def call(self, x):
                return keras.ops.log(x + self.floor)

            def get_config(self):
                return {**super().get_config(), "floor": self.floor}

        _LOG_LAYER = Log
    return _LOG_LAYER


def custom_objects() -> dict:
    """Custom objects to pass to `keras.saving.load_model` for our architectures."""
    return {"drumtimbre>Log": log_layer_class(), "Log": log_layer_class()}


def stft_weights(n_fft: int):
    """Hann-windowed cosine and sine kernels of the n_fft // 2 + 1 DFT bins -> (n_fft, 1, 2 * bins).

    Column 2k is bin k's cosine, 2k+1 its sine (window normalised to unit sum,
    so a full-scale sinusoid gives a power of 0.25): squared and summed they
    are one bin of a power spectrogram.
    """
    import numpy as np

    bins = n_fft // 2 + 1
    n = np.arange(n_fft)
    win = np.hanning(n_fft + 1)[:n_fft]
    win = win / win.sum()
    w = np.zeros((n_fft, 1, 2 * bins), dtype=np.float32)
    for k in range(bins):
        w[:, 0, 2 * k] = win * np.cos(2 * np.pi * k * n / n_fft)
        w[:, 0, 2 * k + 1] = win * np.sin(2 * np.pi * k * n / n_fft)
    return w


def gabor_weights(centres_hz, kernel: int):
    """Long Hann-windowed cosine/sine pairs at `centres_hz` (fine low-frequency bands) -> (kernel, 1, 2 * bands)."""
    import numpy as np

    from encoder.descriptors import SAMPLE_RATE

    t = (np.arange(kernel) - kernel / 2) / SAMPLE_RATE
    win = np.hanning(kernel + 1)[:kernel]
    win = win / win.sum()
    w = np.zeros((kernel, 1, 2 * len(centres_hz)), dtype=np.float32)
    for k, f in enumerate(centres_hz):
        w[:, 0, 2 * k] = win * np.cos(2 * np.pi * f * t)
        w[:, 0, 2 * k + 1] = win * np.sin(2 * np.pi * f * t)
    return w


def pair_sum(bands: int):
    """(2 * bands, bands) matrix adding each cosine/sine pair's squares."""
    import numpy as np

    m = np.zeros((2 * bands, bands), dtype=np.float32)
    m[np.arange(2 * bands), np.arange(2 * bands) // 2] = 1.0
    return m


def mel_matrix(n_fft: int, n_mels: int):
    """Triangular mel filters (peak 1) over the DFT bins, (bins, n_mels), 0-8 kHz."""
    import librosa
    import numpy as np

    from encoder.descriptors import SAMPLE_RATE

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=0.0, norm=None).T.astype(np.float32)


def _frames(L, x, frame: int, hop: int, name: str):
    """(batch, WINDOW_SAMPLES, 1) -> (batch, ceil(WINDOW_SAMPLES / hop), frame): the frames a Conv1D of kernel
    `frame`, stride `hop`, padding 'same' sees (`frame` a multiple of `hop`), from standard layers only."""
    k = frame // hop
    if k * hop != frame:
        raise ValueError(f"frame {frame} is not a multiple of hop {hop}")
    out = -(-WINDOW_SAMPLES // hop)
    pad = max((out - 1) * hop + frame - WINDOW_SAMPLES, 0)
    x = L.ZeroPadding1D((pad // 2, pad - pad // 2), name=f"{name}_pad")(x)
    x = L.Reshape(((WINDOW_SAMPLES + pad) // hop, hop), name=f"{name}_chunks")(x)
    parts = [L.Cropping1D((i, k - 1 - i), name=f"{name}_chunk{i}")(x) for i in range(k)]
    return L.Concatenate(name=f"{name}_frames")(parts) if k > 1 else parts[0]


def _logmel_cnn(name: str, n_mels: int, channels: tuple[int, ...], dense: int, n_fft: int = 256, hop: int = 128,
                low_bands: int = 16, low_kernel: int = 1024, skip: bool = True, dropout: float = 0.0,
                batch_norm: bool = False, band_stats: bool = False, framed: bool = True):
    """Our design: a fixed log-mel front end built from standard layers, a dilated Conv1D stack, global pooling.

    Front end (not trained): an STFT (strided convolution arithmetic; n_fft 256 = 16 ms,
    hop 128 = 8 ms; cosine and sine kernels), squared, summed per bin and
    mapped to `n_mels` mel bands by a fixed Dense; plus `low_bands` long
    (1024 samples = 64 ms) Gabor filters spaced 25-400 Hz for the low end the
    short STFT cannot resolve.  log(power + 1e-10) of both, concatenated,
    fixed rescaling (no batch statistics: truncated and full windows differ too much).  Then Conv1D(k=3) layers with dilation 1, 2, 4, 8 (ReLU); global average and max pooling over time of the conv features and
    of the log bands themselves (with `band_stats`, also their mean square over
    time, i.e. their spread, as a classical feature set has); Dense ReLU;
    Dense(7).  Global pooling keeps the head independent of how much of the
    window holds sound.

    With `framed` (the default) the fixed front end is computed as frames and
    matrix products: the zero-padded input reshaped into hop-long chunks,
    consecutive chunks concatenated into frames, one `Dense` for the STFT (and
    one for the Gabor filters), and the pair sums folded into the mel matrix.
    That is the same arithmetic as the strided convolutions ('same' padding),
    up to float rounding (a test checks it), and a few per cent faster in ONNX
    Runtime (bench/front_end_speed.py); `framed=False` builds the convolution form.
    """
    import numpy as np

    keras = _keras()
    L = keras.layers
    Log = log_layer_class()
    bins = n_fft // 2 + 1
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    if framed:
        stft = L.Dense(2 * bins, use_bias=False, trainable=False, name="stft")
        s = stft(_frames(L, inp, n_fft, hop, "stft"))
        s = L.Multiply()([s, s])
        mel = L.Dense(n_mels, use_bias=False, trainable=False, name="mel")  # pair sums and mel in one
        s = mel(s)
        low = L.Dense(2 * low_bands, use_bias=False, trainable=False, name="low_filters")
        lo = low(_frames(L, inp, low_kernel, hop, "low"))
    else:
        stft = L.Conv1D(2 * bins, n_fft, strides=hop, padding="same", use_bias=False, trainable=False, name="stft")
        s = stft(inp)
        s = L.Multiply()([s, s])
        bin_power = L.Dense(bins, use_bias=False, trainable=False, name="bin_power")
        mel = L.Dense(n_mels, use_bias=False, trainable=False, name="mel")
        s = mel(bin_power(s))
        low = L.Conv1D(2 * low_bands, low_kernel, strides=hop, padding="same", use_bias=False, trainable=False,
                       name="low_filters")
        lo = low(inp)
    lo = L.Multiply()([lo, lo])
    low_power = L.Dense(low_bands, use_bias=False, trainable=False, name="low_power")
    lo = low_power(lo)
    x = L.Concatenate()([lo, s])
    x = Log(1e-10, name="log_power")(x)
    # fixed scaling: log power -23 (silence floor) .. 0 (full scale) -> about -2 .. 2
    x = spec = L.Rescaling(1.0 / 6.0, offset=2.0)(x)
    for i, c in enumerate(channels):
        x = L.Conv1D(c, 3, dilation_rate=2 ** i, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    pooled = [L.GlobalAveragePooling1D()(x), L.GlobalMaxPooling1D()(x)]
    if skip:  # the band energies' own mean and max over time, as a classical feature set would use
        pooled += [L.GlobalAveragePooling1D()(spec), L.GlobalMaxPooling1D()(spec)]
    if band_stats:
        pooled.append(L.GlobalAveragePooling1D()(L.Multiply()([spec, spec])))
    x = L.Concatenate()(pooled)
    if dropout:
        x = L.Dropout(dropout)(x)
    x = L.Dense(dense, activation="relu")(x)
    out = L.Dense(len(DESCRIPTORS), name="descriptors")(x)
    model = keras.Model(inp, out, name=name)
    gabor = gabor_weights(np.linspace(25.0, 400.0, low_bands), low_kernel)
    if framed:
        stft.set_weights([stft_weights(n_fft)[:, 0, :]])
        mel.set_weights([pair_sum(bins) @ mel_matrix(n_fft, n_mels)])
        low.set_weights([gabor[:, 0, :]])
    else:
        stft.set_weights([stft_weights(n_fft)])
        bin_power.set_weights([pair_sum(bins)])
        mel.set_weights([mel_matrix(n_fft, n_mels)])
        low.set_weights([gabor])
    low_power.set_weights([pair_sum(low_bands)])
    return model


def logmel():
    """Ours: fixed log-mel (48 bands) + 16 low Gabor bands, Conv 64 x 4 (dilation 1-2-4-8),
    pooled conv features and band energies, Dense 64-7."""
    return _logmel_cnn("logmel", 48, (64, 64, 64, 64), 64)


def logmel_wide():
    """Ours, wider: 64 mel bands, Conv 96 x 4, Dense 128-7."""
    return _logmel_cnn("logmel_wide", 64, (96, 96, 96, 96), 128)


def logmel_stats():
    """Ours: `logmel_wide` whose head also sees each band's mean square over time (its spread)."""
    return _logmel_cnn("logmel_stats", 64, (96, 96, 96, 96), 128, band_stats=True)


def logmel_fine():
    """Ours, finer in time: as `logmel` with a 4 ms hop (250 frames) and a fifth conv (dilation 16)."""
    return _logmel_cnn("logmel_fine", 48, (64, 64, 64, 64, 64), 64, hop=64)


def pooled():
    """Ours: 16-24-32-48-64-64 channel strided/dilated CNN, global avg+max pooling, Dense 64-7 (~46k parameters)."""
    return _pooled_cnn("pooled", (16, 24, 32, 48, 64, 64), 64)


def pooled_wide():
    """Ours, wider: 24-32-48-64-96-96 channels, Dense 96-7 (~100k parameters)."""
    return _pooled_cnn("pooled_wide", (24, 32, 48, 64, 96, 96), 96)


ARCHITECTURES: dict[str, Callable] = {
    "big": big,
    "seven_filters": seven_filters,
    "mid": mid,
    "small": small,
    "pooled": pooled,
    "pooled_wide": pooled_wide,
    "logmel": logmel,
    "logmel_wide": logmel_wide,
    "logmel_fine": logmel_fine,
    "logmel_stats": logmel_stats,
}

STUDY_PARAMETERS = {"big": 2_122_371, "seven_filters": 348_063, "mid": 283_623, "small": 130_697}


def ensemble(members: list, name: str = "ensemble"):
    """One Keras model averaging the outputs of trained `members` (same input): one ONNX graph on export."""
    keras = _keras()
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    outs = []
    for i, m in enumerate(members):
        m.name = f"member_{i}_{m.name}"
        outs.append(m(inp))
    out = keras.layers.Average(name="descriptors")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(inp, out, name=name)


def build(name: str):
    """Build an uncompiled Keras model by architecture name."""
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
