"""Architectures: the study's parameter counts, and our global-pooling models' window independence."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from encoder import models  # noqa: E402
from encoder.descriptors import WINDOW_SAMPLES  # noqa: E402


@pytest.mark.parametrize("name,params", sorted(models.STUDY_PARAMETERS.items()))
def test_study_architectures_have_the_papers_parameter_counts(name, params):
    m = models.build(name)
    assert m.count_params() == params
    assert m.input_shape == (None, WINDOW_SAMPLES, 1)
    assert m.output_shape == (None, 7)


OURS = ["pooled", "pooled_wide", "logmel", "logmel_wide", "logmel_fine", "logmel_stats", "logmel_slim", "logmel_reg"]


def trainable(m) -> int:
    return int(sum(np.prod(w.shape) for w in m.trainable_weights))


@pytest.mark.parametrize("name", OURS)
def test_our_models_are_smaller_than_the_reference_and_pool_over_time(name):
    m = models.build(name)
    assert trainable(m) < models.STUDY_PARAMETERS["seven_filters"] / 2
    assert not any(isinstance(layer, keras.layers.Flatten) for layer in m.layers)
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling1D) for layer in m.layers)
    x = np.random.default_rng(0).standard_normal((2, WINDOW_SAMPLES, 1)).astype(np.float32)
    y = m(x, training=False).numpy()
    assert y.shape == (2, 7) and np.all(np.isfinite(y))


def _shift_change(name: str) -> float:
    """Largest output change, relative to the output size, when a burst moves 4096 samples later."""
    keras.utils.set_random_seed(0)
    m = models.build(name)
    rng = np.random.default_rng(1)
    burst = rng.standard_normal(2000).astype(np.float32) * np.exp(-np.arange(2000) / 300.0).astype(np.float32)
    a = np.zeros((1, WINDOW_SAMPLES, 1), np.float32)
    b = np.zeros((1, WINDOW_SAMPLES, 1), np.float32)
    a[0, 4096:6096, 0] = burst
    b[0, 8192:10192, 0] = burst  # shift by a multiple of the total stride (128), away from the edges
    ya, yb = m(a, training=False).numpy(), m(b, training=False).numpy()
    return float(np.abs(ya - yb).max() / np.abs(ya).max())


@pytest.mark.parametrize("name", ["pooled", "logmel"])
def test_output_does_not_depend_on_where_in_the_window_a_sound_lies(name):
    """Global pooling: no position-specific weights, so a later sound gives the same output (round-off only)."""
    assert _shift_change(name) < 1e-2


def test_study_flatten_head_is_position_specific():
    assert _shift_change("seven_filters") > 0.1


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown architecture 'huge'"):
        models.build("huge")


def test_logmel_front_end_is_a_fixed_spectrogram():
    """The front end's log band energies: a 1 kHz tone peaks in the mel band holding 1 kHz; a 60 Hz tone
    in the low Gabor bands; its weights are not trained."""
    import librosa

    m = models.build("logmel")
    front = keras.Model(m.input, m.get_layer("log_power").output)
    t = np.arange(WINDOW_SAMPLES) / 16000
    tones = np.stack([np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 60 * t)]).astype(np.float32)[..., None]
    bands = front(tones).numpy()[:, 60]  # a frame mid-window: (2, 16 low + 48 mel)
    mel_freqs = librosa.mel_frequencies(48 + 2, fmin=0.0, fmax=8000)[1:-1]
    assert abs(mel_freqs[int(np.argmax(bands[0, 16:]))] - 1000) < 120
    low_freqs = np.linspace(25, 400, 16)
    assert abs(low_freqs[int(np.argmax(bands[1, :16]))] - 60) < 25
    assert bands[0, 16:].max() == pytest.approx(np.log(0.25 * 1.0 + 1e-10), abs=1.0)  # full-scale tone, power ~0.25
    for name in ("stft_even", "stft_odd", "mel", "low_basis", "low_filters", "low_power"):
        assert not m.get_layer(name).trainable


def test_logmel_round_trips_through_keras_file(tmp_path):
    m = models.build("logmel")
    m.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", custom_objects=models.custom_objects(), compile=False)
    x = np.random.default_rng(2).standard_normal((2, WINDOW_SAMPLES, 1)).astype(np.float32) * 0.1
    np.testing.assert_allclose(m(x).numpy(), again(x).numpy(), atol=1e-6)


def test_ensemble_averages_its_members():
    keras.utils.set_random_seed(0)
    a, b = models.build("pooled"), models.build("small")
    x = np.random.default_rng(3).standard_normal((2, WINDOW_SAMPLES, 1)).astype(np.float32) * 0.1
    expected = (a(x, training=False).numpy() + b(x, training=False).numpy()) / 2
    e = models.ensemble([a, b])
    assert e.input_shape == (None, WINDOW_SAMPLES, 1) and e.output_shape == (None, 7)
    np.testing.assert_allclose(e(x, training=False).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("form", ["framed", "split", "factored"])
def test_front_end_forms_compute_the_convolution_front_end(form):
    """The framed (reshape + Dense), split (radix-2 step) and factored (split, Gabor bank through a slice
    basis: the default) front ends compute what the strided Conv1D form computes: with the same
    trained-layer weights, the models agree to float rounding (the factored one also to its basis)."""
    keras.utils.set_random_seed(3)
    conv = models._logmel_cnn("conv", 48, (16, 16), 16, front_end="conv")
    other = models._logmel_cnn(form, 48, (16, 16), 16, front_end=form)
    trained = [[layer for layer in m.layers if layer.trainable_weights] for m in (conv, other)]
    assert len(trained[0]) == len(trained[1]) == 4
    assert models.copy_trained_weights(conv, other)
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW_SAMPLES) / 16000
    x = np.stack([rng.standard_normal(WINDOW_SAMPLES) * np.exp(-20 * t),  # a noise burst (snare, hat)
                  np.sin(2 * np.pi * 55 * t) * np.exp(-4 * t),  # a low decaying tone (kick)
                  np.r_[np.zeros(9000), 0.3 * rng.standard_normal(WINDOW_SAMPLES - 9000)]]).astype(np.float32)
    ya = conv(x[..., None], training=False).numpy()
    yb = other(x[..., None], training=False).numpy()
    assert np.abs(ya).max() > 1e-3
    assert np.abs(ya - yb).max() < 1e-4 * max(1.0, float(np.abs(ya).max()))
    # and the fixed parts really differ in form: no strided convolution left
    assert not any(isinstance(layer, keras.layers.Conv1D) and layer.strides[0] > 1 for layer in other.layers)
    if form in ("split", "factored"):  # half the STFT's multiply-adds: two 128 x 128 matrices, not 256 x 258
        assert other.get_layer("stft_even").kernel.shape == other.get_layer("stft_odd").kernel.shape == (128, 128)
    if form == "factored":  # the Gabor bank: 128 x 16 per chunk, then 8 taps of 16 x 32, not 8 x 128 x 32
        assert other.get_layer("low_basis").kernel.shape == (128, 16)
        assert other.get_layer("low_filters").kernel.shape == (8, 16, 32)
        default = models.build("logmel")
        assert default.get_layer("stft_halves") is not None and default.get_layer("low_basis") is not None


def test_factored_filters_hold_the_gabor_bank():
    """The slice basis and its taps rebuild the 1024-tap Gabor filters to 3e-6 of their largest weight, and
    a tone's filter outputs through the factored form equal the direct convolution's; a rank that cannot
    hold them (4) is visibly worse, and impossible ranks are refused with the value named."""
    gabor = models.gabor_weights(np.linspace(25.0, 400.0, 16), 1024)  # (1024, 1, 32)
    slices = gabor[:, 0, :].reshape(8, 128, 32)
    scale = float(np.abs(gabor).max())

    def rebuild_error(rank):
        basis, taps = models.factored_filters(gabor, 128, rank)
        assert basis.shape == (128, rank) and taps.shape == (8, rank, 32)
        np.testing.assert_allclose(basis.T @ basis, np.eye(rank), atol=1e-6)  # orthonormal
        return float(np.abs(np.einsum("mr,jrk->jmk", basis, taps) - slices).max()) / scale

    assert rebuild_error(16) < 3e-6
    assert rebuild_error(4) > 1e-3
    basis, taps = models.factored_filters(gabor, 128, 16)
    x = np.sin(2 * np.pi * 120 * np.arange(2048) / 16000).reshape(16, 128)  # 16 chunks of a 120 Hz tone
    direct = sum(x[j:j + 9] @ slices[j] for j in range(8))
    z = x @ basis
    np.testing.assert_allclose(sum(z[j:j + 9] @ taps[j] for j in range(8)), direct, atol=1e-6 * np.abs(direct).max())
    with pytest.raises(ValueError, match="rank 129"):
        models.factored_filters(gabor, 128, 129)
    with pytest.raises(ValueError, match="kernel 1000"):
        models.factored_filters(gabor[:1000], 128, 16)


def test_split_dft_is_the_hann_windowed_dft():
    """HannHalves' sum and difference times split_dft_kernels give the power spectrum numpy's FFT gives."""
    rng = np.random.default_rng(5)
    n = 256
    frames = rng.standard_normal((6, n))
    frames[0] = np.cos(2 * np.pi * 10 * np.arange(n) / n)  # a tone on bin 10
    win = models.hann_window(n)
    assert win.sum() == pytest.approx(1.0) and win[0] == 0.0
    expected = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2  # (6, 129)
    even, odd, bins = models.split_dft_kernels(n)
    a, b = frames[:, :n // 2] * win[:n // 2], frames[:, n // 2:] * win[n // 2:]
    parts = np.hstack([(a + b) @ even, (a - b) @ odd]) ** 2
    power = np.zeros_like(expected)
    np.add.at(power.T, bins, parts.T)
    np.testing.assert_allclose(power, expected, rtol=1e-4, atol=1e-9)
    assert int(np.argmax(power[0])) == 10 and sorted(set(bins.tolist())) == list(range(n // 2 + 1))


def test_pooled_batchnorm_statistics_catch_up_within_a_short_run():
    """After 120 steps (a short run) inference mode must match training mode: each BatchNorm's moving variance
    near its batch variance.  With Keras' default momentum 0.99, 0.99 ** 120 = 30 % of the initial variance 1.0
    remained, against a first-conv variance near 1e-3, and inference outputs were far off."""
    keras.utils.set_random_seed(0)
    m = models.build("pooled")
    m.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mae")  # slow weights: the statistics are what is judged
    rng = np.random.default_rng(4)
    t = np.arange(WINDOW_SAMPLES)
    x = np.zeros((16, WINDOW_SAMPLES, 1), np.float32)  # decaying noise bursts, peak 1, some cut short
    for i, tau in enumerate(rng.uniform(100, 5000, len(x))):
        burst = rng.standard_normal(WINDOW_SAMPLES) * np.exp(-t / tau)
        burst[int(rng.uniform(400, WINDOW_SAMPLES)):] = 0.0
        x[i, :, 0] = burst / np.abs(burst).max()
    y = rng.uniform(0.2, 0.8, (len(x), 7)).astype(np.float32)
    for _ in range(120):
        m.train_on_batch(x, y)
    bns = [layer for layer in m.layers if isinstance(layer, keras.layers.BatchNormalization)]
    inputs = keras.Model(m.input, [b.input for b in bns])(x, training=False)
    for b, h in zip(bns, inputs):
        var = np.asarray(h).reshape(-1, h.shape[-1]).var(axis=0)
        ratio = b.moving_variance.numpy() / var
        assert 0.8 < np.median(ratio) < 1.25, (b.name, np.median(ratio))
    inferred = m(x, training=False).numpy()
    trained = m(x, training=True).numpy()
    assert np.abs(trained - inferred).mean() < 0.05, np.abs(trained - inferred).mean()  # (0.54 with 0.99)
