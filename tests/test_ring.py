"""Taking the ring of earlier hits out of a hit's window (realtime.ring)."""
from __future__ import annotations

import numpy as np

from realtime.ring import context_samples, subtract_ring
from tests.signals import hat, kick

RATE = 16000


def test_silence_before_or_too_little_context_leaves_the_window_as_it_is():
    w = hat(RATE, seed=1).astype(np.float32)
    assert np.array_equal(subtract_ring(np.zeros(context_samples(RATE)), w, RATE), w)
    assert np.array_equal(subtract_ring(kick(RATE)[:context_samples(RATE) - 1], w, RATE), w)
    assert subtract_ring(kick(RATE), np.zeros(0, np.float32), RATE).size == 0


def test_a_hat_over_a_ringing_kick_comes_out_closer_to_the_hat_alone():
    """A hat 150 ms into a loud 55 Hz kick: after subtraction its first 100 ms is much nearer the hat alone (the
    kick's low partial mostly gone) and the hat's attack keeps its level."""
    k = 2.0 * kick(RATE, seconds=0.8)
    h = 0.3 * hat(RATE, seed=2)
    at = int(0.15 * RATE)
    mix = k.copy()
    mix[at:at + h.size] += h
    window = mix[at:at + int(0.3 * RATE)].astype(np.float32)
    out = subtract_ring(mix[:at], window, RATE)
    assert out.shape == window.shape and out.dtype == np.float32
    n = int(0.1 * RATE)
    # the mix is mostly kick (correlation with the hat 0.33 when written); what is left is mostly hat (0.96)
    assert np.corrcoef(window[:n], h[:n])[0, 1] < 0.5 < 0.9 < np.corrcoef(out[:n], h[:n])[0, 1]
    assert np.sqrt(np.mean((out[:n] - h[:n]) ** 2)) < 0.2 * np.sqrt(np.mean((window[:n] - h[:n]) ** 2))
    low = np.fft.rfftfreq(n, 1 / RATE) < 150
    assert np.abs(np.fft.rfft(out[:n]))[low].sum() < 0.3 * np.abs(np.fft.rfft(window[:n]))[low].sum()
    attack = slice(0, int(0.01 * RATE))
    assert np.sqrt(np.mean(out[attack] ** 2)) > 0.7 * np.sqrt(np.mean(h[attack] ** 2))
