"""Swap a log-mel model's fixed front end for its fastest equivalent form before conversion.

Models of the log-mel family (`encoder.models._logmel_cnn`) compute a fixed
STFT and Gabor filter bank in one of four forms that compute the same up to
float rounding ("conv", "framed", "split": half the STFT's multiply-adds;
"factored": split, and a fifth of the Gabor bank's, through a basis that holds
the filters to 1.5e-6 of their largest weight).  A model trained in an
older form is rebuilt here in the "factored" form with its trained weights
copied, and checked on probe signals to give the same outputs; the export's
parity check then compares the ONNX graph with the original model.
"""
from __future__ import annotations

import numpy as np

from encoder.descriptors import SAMPLE_RATE, WINDOW_SAMPLES
from encoder.models import FRONT_ENDS  # no TensorFlow import: Keras loads lazily

FASTEST = FRONT_ENDS[0]
"""The form every log-mel model is rebuilt in."""

PROBE_TOLERANCE = 2e-5
"""Largest difference allowed between the two forms on the probe signals, relative to max(1, largest output)
(normalised units; float32 rounding and the factored basis, well inside the export's 1e-4 parity)."""


def probe_signals() -> np.ndarray:
    """(4, 16000, 1) float32 drum-like probes: a noise burst, a low decaying tone, a late onset, a click train."""
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE
    clicks = np.zeros(WINDOW_SAMPLES)
    clicks[::1600] = 0.9
    x = np.stack([rng.standard_normal(WINDOW_SAMPLES) * np.exp(-20 * t),
                  np.sin(2 * np.pi * 55 * t) * np.exp(-4 * t),
                  np.r_[np.zeros(9000), 0.3 * rng.standard_normal(WINDOW_SAMPLES - 9000)],
                  clicks])
    return (x / np.abs(x).max(axis=1, keepdims=True)).astype(np.float32)[..., None]


def front_end_form(model) -> str | None:
    """'factored', 'split', 'framed' or 'conv' for a log-mel family model, else None."""
    names = {layer.name for layer in model.layers}
    if "stft_halves" in names:
        return "factored" if "low_basis" in names else "split"
    if "stft" in names and "mel" in names and "low_power" in names:
        return "conv" if "bin_power" in names else "framed"
    return None


def fastest_equivalent(model):
    """(model to convert, note): the "factored" rebuild of an older-form log-mel model, else the model itself.

    The note says what was done ('' when nothing was).  The rebuild is used only
    when the architecture is known by name, every trained weight finds its
    place and the probes agree within PROBE_TOLERANCE; otherwise the model is
    returned unchanged, with the reason in the note.
    """
    form = front_end_form(model)
    if form is None or form == FASTEST:
        return model, ""
    from encoder import models

    builder = models.ARCHITECTURES.get(model.name)
    if builder is None:
        return model, f"front end kept ({form}): architecture {model.name!r} unknown"
    rebuilt = builder()
    if front_end_form(rebuilt) != FASTEST:
        return model, f"front end kept ({form}): {model.name} does not build a {FASTEST} front end"
    if not models.copy_trained_weights(model, rebuilt):
        return model, f"front end kept ({form}): trained layers do not match a fresh {model.name}"
    x = probe_signals()
    y = model(x, training=False).numpy()
    diff = float(np.abs(y - rebuilt(x, training=False).numpy()).max())
    if not diff <= PROBE_TOLERANCE * max(1.0, float(np.abs(y).max())):
        return model, f"front end kept ({form}): the {FASTEST} rebuild differs by {diff:.1e} on the probes"
    return rebuilt, f"front end {form} -> {FASTEST} (max difference on probes {diff:.1e})"
