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


BN_MOMENTUM = 0.9
"""Momentum of the BatchNorm moving statistics in `_pooled_cnn` (Keras' default 0.99 keeps 0.99 ** steps of the
initial 1.0 variance: after 150 steps 22 %, against a first-conv variance near 1e-3, so inference-mode outputs were
wrong on short runs; 0.9 leaves 1e-7 after 150 steps)."""


def _pooled_cnn(name: str, channels: tuple[int, ...], dense: int):
    """Our design: strided learned filterbank, strided + dilated conv stack, global pooling over time.

    Conv1D(c0, 32, stride 8) is a bank of 2 ms filters with a 0.5 ms hop; each
    further Conv1D(k=5, stride 2) halves the frame rate (8 ms hop after four);
    the last conv is dilated (k=3, dilation 2) to widen the receptive field to
    about 60 ms.  BatchNorm + ReLU after every conv (momentum `BN_MOMENTUM`, so
    the moving statistics inference uses catch up with the batch statistics
    even in a short run).  Global average and global max pooling over time
    (concatenated) make the head independent of the window length: a 25 ms
    window and a 1 s window feed the same Dense layers, unlike the study's
    Flatten -> Dense.
    """
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    x = inp
    specs = [(channels[0], 32, 8, 1)] + [(c, 5, 2, 1) for c in channels[1:-1]] + [(channels[-1], 3, 1, 2)]
    for filters, kernel, stride, dilation in specs:
        x = L.Conv1D(filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=BN_MOMENTUM)(x)
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


def same_padding(frame: int, hop: int) -> tuple[int, int, int]:
    """(frames, zeros before, zeros after) of a Conv1D of kernel `frame`, stride `hop`, padding 'same'
    over WINDOW_SAMPLES samples: frame i then covers padded samples i * hop .. i * hop + frame - 1."""
    frames = -(-WINDOW_SAMPLES // hop)
    pad = max((frames - 1) * hop + frame - WINDOW_SAMPLES, 0)
    return frames, pad // 2, pad - pad // 2


_HALVES_LAYER = None


def halves_layer_class():
    """The `HannHalves` layer, registered with Keras as 'drumtimbre>HannHalves'.

    (batch, samples, 1) -> the frames a Conv1D of kernel `frame`, stride `hop`,
    padding 'same' would see (`frame` a multiple of 2 * `hop`), each times a
    periodic Hann window of unit sum, as the sum and the difference of its two
    halves: `even` = w[:N/2] f[:N/2] + w[N/2:] f[N/2:] and `odd` = w[:N/2]
    f[:N/2] - w[N/2:] f[N/2:], both (batch, frames, frame / 2).  The DFT bins
    2j of the windowed frame are the N/2-point DFT of `even`, the bins 2j + 1
    the DFT of `odd` at the odd frequencies (one radix-2 step):
    `split_dft_kernels` gives both as real matrices, half the multiply-adds
    of the full DFT matrix.  Built from pad, reshape, slices, multiplies and adds.
    """
    global _HALVES_LAYER
    if _HALVES_LAYER is None:
        import numpy as np

        keras = _keras()

        @keras.saving.register_keras_serializable(package="drumtimbre")
        class HannHalves(keras.layers.Layer):
            """Hann-windowed frames of `frame` samples every `hop`, as the sum and difference of their halves."""

            def __init__(self, frame: int, hop: int, **kwargs):
                super().__init__(**kwargs)
                if frame % (2 * hop):
                    raise ValueError(f"frame {frame} is not a multiple of 2 x hop {hop}")
                self.frame, self.hop = int(frame), int(hop)
                win = hann_window(self.frame)
                self._w1 = win[:self.frame // 2].astype(np.float32)
                self._w2 = win[self.frame // 2:].astype(np.float32)

            def call(self, x):
                ops = keras.ops
                frames, before, after = same_padding(self.frame, self.hop)
                x = ops.pad(x, [[0, 0], [before, after], [0, 0]])
                chunks = ops.reshape(x, (-1, (WINDOW_SAMPLES + before + after) // self.hop, self.hop))
                k = self.frame // self.hop

                def half(first: int):  # chunks first .. first + k/2 - 1 of every frame, side by side
                    parts = [chunks[:, i:i + frames, :] for i in range(first, first + k // 2)]
                    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

                a = half(0) * ops.convert_to_tensor(self._w1)
                b = half(k // 2) * ops.convert_to_tensor(self._w2)
                return a + b, a - b

            def compute_output_shape(self, input_shape):
                shape = (input_shape[0], same_padding(self.frame, self.hop)[0], self.frame // 2)
                return shape, shape

            def get_config(self):
                return {**super().get_config(), "frame": self.frame, "hop": self.hop}

        _HALVES_LAYER = HannHalves
    return _HALVES_LAYER


def hann_window(n: int):
    """Periodic Hann window of n samples scaled to unit sum (a full-scale sinusoid's bin power is then 0.25)."""
    import numpy as np

    win = np.hanning(n + 1)[:n]
    return win / win.sum()


def split_dft_kernels(n_fft: int):
    """The DFT of `HannHalves` output -> (even (N/2, N/2), odd (N/2, N/2), bin of each column (N,)).

    `even` maps the halves' sum to the cosine and sine parts of bins 0, 2, ..., N/2
    (no sine for bins 0 and N/2: it is zero), `odd` maps their difference to
    bins 1, 3, ..., N/2 - 1; `bins` gives the DFT bin of each of the N output
    columns (even's, then odd's), for summing squares into bin powers.
    """
    import numpy as np

    h = n_fft // 2
    m = np.arange(h)[:, None]
    j_even = np.arange(0, h // 2 + 1)
    j_sin = np.arange(1, h // 2)
    j_odd = np.arange(h // 2)
    even = np.hstack([np.cos(2 * np.pi * j_even * m / h), np.sin(2 * np.pi * j_sin * m / h)])
    odd = np.hstack([np.cos(2 * np.pi * (2 * j_odd + 1) * m / n_fft), np.sin(2 * np.pi * (2 * j_odd + 1) * m / n_fft)])
    bins = np.concatenate([2 * j_even, 2 * j_sin, 2 * j_odd + 1, 2 * j_odd + 1])
    return even.astype(np.float32), odd.astype(np.float32), bins


def copy_trained_weights(src, dst) -> bool:
    """Copy the weights of every layer of `src` that has trainable weights into the matching layer of `dst`
    (the same architecture in another front-end form), in order; False (nothing copied) if they do not fit."""
    a = [layer for layer in src.layers if layer.trainable_weights]
    b = [layer for layer in dst.layers if layer.trainable_weights]
    if [[w.shape for w in x.get_weights()] for x in a] != [[w.shape for w in y.get_weights()] for y in b]:
        return False
    for x, y in zip(a, b):
        y.set_weights(x.get_weights())
    return True


def custom_objects() -> dict:
    """Custom objects to pass to `keras.saving.load_model` for our architectures."""
    from encoder import blend

    return {"drumtimbre>Log": log_layer_class(), "Log": log_layer_class(),
            "drumtimbre>HannHalves": halves_layer_class(), **blend.custom_objects()}


def stft_weights(n_fft: int):
    """Hann-windowed cosine and sine kernels of the n_fft // 2 + 1 DFT bins -> (n_fft, 1, 2 * bins).

    Column 2k is bin k's cosine, 2k+1 its sine (window normalised to unit sum,
    so a full-scale sinusoid gives a power of 0.25): squared and summed they
    are one bin of a power spectrogram.
    """
    import numpy as np

    bins = n_fft // 2 + 1
    n = np.arange(n_fft)
    win = hann_window(n_fft)
    w = np.zeros((n_fft, 1, 2 * bins), dtype=np.float32)
    for k in range(bins):
        w[:, 0, 2 * k] = win * np.cos(2 * np.pi * k * n / n_fft)
        w[:, 0, 2 * k + 1] = win * np.sin(2 * np.pi * k * n / n_fft)
    return w


def gabor_weights(centres_hz, kernel: int):
    """Long Hann-windowed cosine/sine pairs at `centres_hz` (Hz; fine low-frequency bands) -> (kernel, 1, 2 * bands).

    `kernel` is the filter length in samples at 16 kHz."""
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


def factored_filters(weights, hop: int, rank: int):
    """A long filter bank (kernel, 1, out) as (basis (hop, rank), taps (kernel / hop, rank, out)).

    The filters, cut into hop-long slices, are projected on the `rank` leading
    left singular vectors of all their slices side by side (float64 SVD): each
    hop-long chunk of input is multiplied by `basis` once, and a Conv1D of
    kernel / hop taps over those projections gives the filter outputs.  The low
    Gabor bands (25-400 Hz) are smooth over an 8 ms slice, so few dimensions hold
    them: 16 rebuild the filters to 1.5e-6 of their largest weight
    (bench/front_end_speed.py, with what that changes in a trained model's output).
    """
    import numpy as np

    kernel, _, out = weights.shape
    if kernel % hop:
        raise ValueError(f"kernel {kernel} is not a multiple of hop {hop}")
    taps = np.asarray(weights, dtype=np.float64).reshape(kernel // hop, hop, out)
    u, _, _ = np.linalg.svd(taps.transpose(1, 0, 2).reshape(hop, -1), full_matrices=False)
    if not 0 < rank <= u.shape[1]:
        raise ValueError(f"rank {rank}: expected 1 .. {u.shape[1]}")
    basis = u[:, :rank]
    return basis.astype(np.float32), np.einsum("mr,jmk->jrk", basis, taps).astype(np.float32)


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


def _chunks(L, x, frame: int, hop: int, name: str):
    """(batch, WINDOW_SAMPLES, 1) -> (batch, chunks, hop): the input zero-padded as a Conv1D of kernel `frame`,
    stride `hop`, padding 'same' pads it (`frame` a multiple of `hop`), cut into hop-long chunks; frame i is
    chunks i .. i + frame / hop - 1."""
    if frame % hop:
        raise ValueError(f"frame {frame} is not a multiple of hop {hop}")
    _, before, after = same_padding(frame, hop)
    x = L.ZeroPadding1D((before, after), name=f"{name}_pad")(x)
    return L.Reshape(((WINDOW_SAMPLES + before + after) // hop, hop), name=f"{name}_chunks")(x)


def _frames(L, x, frame: int, hop: int, name: str):
    """(batch, WINDOW_SAMPLES, 1) -> (batch, ceil(WINDOW_SAMPLES / hop), frame): the frames a Conv1D of kernel
    `frame`, stride `hop`, padding 'same' sees (`frame` a multiple of `hop`), from standard layers only."""
    k = frame // hop
    x = _chunks(L, x, frame, hop, name)
    parts = [L.Cropping1D((i, k - 1 - i), name=f"{name}_chunk{i}")(x) for i in range(k)]
    return L.Concatenate(name=f"{name}_frames")(parts) if k > 1 else parts[0]


FRONT_ENDS = ("factored", "split", "framed", "conv")
"""The forms of the log-mel family's fixed front end, fastest first (`_logmel_cnn`)."""

LOW_RANK = 16
"""Dimensions of the basis the factored form projects the Gabor filters' slices on (`factored_filters`)."""


def _logmel_cnn(name: str, n_mels: int, channels: tuple[int, ...], dense: int, n_fft: int = 256, hop: int = 128,
                low_bands: int = 16, low_kernel: int = 1024, skip: bool = True, dropout: float = 0.0,
                batch_norm: bool = False, band_stats: bool = False, front_end: str = "factored",
                low_rank: int = LOW_RANK):
    """Our design: a fixed log-mel front end built from standard layers, a dilated Conv1D stack, global pooling.

    Front end (not trained): an STFT (strided convolution arithmetic; n_fft 256 = 16 ms,
    hop 128 = 8 ms; cosine and sine kernels), squared, summed per bin and
    mapped to `n_mels` mel bands by a fixed Dense; plus `low_bands` long
    (1024 samples = 64 ms) Gabor filters spaced 25-400 Hz for the low end the
    short STFT cannot resolve.  log(power + 1e-10) of both, concatenated,
    fixed rescaling (no batch statistics: truncated and full windows differ too
    much).  Then Conv1D(k=3) layers with dilation 1, 2, 4, 8 (ReLU); global
    average and max pooling over time of the conv features and of the log
    bands themselves (with `band_stats`, also their mean square over
    time, i.e. their spread, as a classical feature set has); Dense ReLU;
    Dense(7).  Global pooling keeps the head independent of how much of the
    window holds sound.

    `front_end` says how the fixed filters are computed; the forms compute the
    same up to float rounding (tests check it), the factored one up to its
    basis, which holds the Gabor filters to 1.5e-6 of their largest weight:
    "conv": strided Conv1D layers; "framed": the zero-padded input reshaped into
    hop-long chunks, consecutive chunks concatenated into frames, one `Dense`
    for the STFT and one for the Gabor filters, the pair sums folded into the
    mel matrix; "split": the STFT takes one radix-2 step
    (`HannHalves`: sum and difference of the windowed frame's halves, then two
    half-size DFT matrices: half the multiply-adds of the full DFT matrix), and
    the Gabor filters are a Conv1D over the hop-long chunks (no frames copied);
    "factored" (the default): split, with each hop-long chunk first projected on
    the `low_rank` dimensions that hold the Gabor filters' slices
    (`factored_filters`: a fifth of the Gabor bank's multiply-adds).  Speed of
    the forms: bench/front_end_speed.py.
    """
    import numpy as np

    keras = _keras()
    L = keras.layers
    Log = log_layer_class()
    bins = n_fft // 2 + 1
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    if front_end not in FRONT_ENDS:
        raise ValueError(f"front_end {front_end!r}: expected one of {', '.join(map(repr, FRONT_ENDS))}")
    gabor = gabor_weights(np.linspace(25.0, 400.0, low_bands), low_kernel)[:, 0, :]
    fixed = {}  # layer -> weight matrix, set once the model is built

    def fixed_dense(x, units: int, name: str, weights):
        layer = L.Dense(units, use_bias=False, trainable=False, name=name)
        fixed[layer] = weights
        return layer(x)

    def square(x):
        return L.Multiply()([x, x])

    if front_end in ("split", "factored"):
        even, odd = halves_layer_class()(n_fft, hop, name="stft_halves")(inp)
        even_w, odd_w, bin_of = split_dft_kernels(n_fft)
        s = L.Concatenate(name="stft_power")([square(fixed_dense(even, n_fft // 2, "stft_even", even_w)),
                                              square(fixed_dense(odd, n_fft // 2, "stft_odd", odd_w))])
        s = fixed_dense(s, n_mels, "mel", mel_matrix(n_fft, n_mels)[bin_of])  # squares summed per bin, mel
    elif front_end == "framed":
        s = fixed_dense(_frames(L, inp, n_fft, hop, "stft"), 2 * bins, "stft", stft_weights(n_fft)[:, 0, :])
        s = fixed_dense(square(s), n_mels, "mel", pair_sum(bins) @ mel_matrix(n_fft, n_mels))  # pair sums + mel
    else:
        stft = L.Conv1D(2 * bins, n_fft, strides=hop, padding="same", use_bias=False, trainable=False, name="stft")
        fixed[stft] = stft_weights(n_fft)
        s = fixed_dense(square(stft(inp)), bins, "bin_power", pair_sum(bins))
        s = fixed_dense(s, n_mels, "mel", mel_matrix(n_fft, n_mels))
    if front_end == "conv":
        low = L.Conv1D(2 * low_bands, low_kernel, strides=hop, padding="same", use_bias=False, trainable=False,
                       name="low_filters")
        fixed[low] = gabor[:, None, :]
        lo = low(inp)
    elif front_end in ("split", "factored"):
        # a Conv1D over hop-long chunks: each frame's chunks times the kernel's slices, summed
        chunks = _chunks(L, inp, low_kernel, hop, "low")
        taps = gabor.reshape(low_kernel // hop, hop, 2 * low_bands)
        if front_end == "factored":  # the chunks projected on the slices' basis once, the taps in that basis
            basis, taps = factored_filters(gabor[:, None, :], hop, low_rank)
            chunks = fixed_dense(chunks, low_rank, "low_basis", basis)
        low = L.Conv1D(2 * low_bands, taps.shape[0], padding="valid", use_bias=False, trainable=False,
                       name="low_filters")
        fixed[low] = taps
        lo = low(chunks)
    else:
        lo = fixed_dense(_frames(L, inp, low_kernel, hop, "low"), 2 * low_bands, "low_filters", gabor)
    lo = fixed_dense(square(lo), low_bands, "low_power", pair_sum(low_bands))
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
    for layer, weights in fixed.items():
        layer.set_weights([weights])
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


def logmel_slim():
    """Ours: `logmel_stats` with 80 channels in the conv stack (about 28 % fewer of its multiply-adds)."""
    return _logmel_cnn("logmel_slim", 64, (80, 80, 80, 80), 128, band_stats=True)


def logmel_reg():
    """Ours: `logmel_stats` with dropout 0.2 on the pooled features before its head."""
    return _logmel_cnn("logmel_reg", 64, (96, 96, 96, 96), 128, band_stats=True, dropout=0.2)


def logmel_fine():
    """Ours, finer in time: as `logmel` with a 4 ms hop (250 frames) and a fifth conv (dilation 16)."""
    return _logmel_cnn("logmel_fine", 48, (64, 64, 64, 64, 64), 64, hop=64)


def pooled():
    """Ours: 16-24-32-48-64-64 channel strided/dilated CNN, global avg+max pooling, Dense 64-7 (51,303 parameters)."""
    return _pooled_cnn("pooled", (16, 24, 32, 48, 64, 64), 64)


def pooled_wide():
    """Ours, wider: 24-32-48-64-96-96 channels, Dense 96-7 (106,663 parameters)."""
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
    "logmel_slim": logmel_slim,
    "logmel_reg": logmel_reg,
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
