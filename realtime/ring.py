"""Take the ring of earlier hits out of a hit's window, by spectral subtraction.

In a played part a hit's window also holds what still sounds from the hits
before it (a kick's tail under a hat, a crash under a snare), and the model
hears that ring as part of the hit: on the Hydrogen demo songs the per-hit
error grows from about that of the one-shot alone, when the hit comes out of
near silence, to six times it when the ring is within 6 dB of the hit
(BENCHMARKS.md, "Each hit's timbre in a played part").

subtract_ring measures the ring's magnitude spectrum in the audio just before
the window (the mean of MEASURE_FRAMES frames of FRAME_S, HOP_S apart) and takes
it from every frame of the window (short-time Fourier transform, Hann frames),
keeping at least FLOOR of each bin's own magnitude and its phase; the frames
are overlap-added back to a signal of the window's length.  Audio that was
silent before the hit leaves the window unchanged.  A window shorter than a
frame (the 25 ms early one) works the same way: its frames also hold the audio
before it and the zeros after it.
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.032
"""Frame length, s (512 samples at 16 kHz)."""
HOP_S = 0.008
"""Hop between frames, s (a quarter frame)."""
MEASURE_FRAMES = 3
"""Frames before the window whose mean magnitude is the ring."""
FLOOR = 0.1
"""Each bin keeps at least this share of its own magnitude."""


def context_samples(rate: int) -> int:
    """Samples before a window that subtract_ring uses, at `rate` Hz."""
    n, h = _sizes(rate)
    return n + (MEASURE_FRAMES - 1) * h


def _sizes(rate: int) -> tuple[int, int]:
    """(frame, hop) in samples; the frame a whole number of hops."""
    h = max(1, int(round(HOP_S * rate)))
    return h * int(round(FRAME_S / HOP_S)), h


def _fft_length(n: int) -> int:
    """The smallest length >= n (samples) whose only prime factors are 2, 3 and 5 (a fast FFT): 512 and 1536 (16
    and 48 kHz frames) stay, 1412 (44.1 kHz; 4 x 353) becomes 1440."""
    m = n
    while True:
        r = m
        for f in (2, 3, 5):
            while r % f == 0:
                r //= f
        if r == 1:
            return m
        m += 1


def _frames(x: np.ndarray, n: int, h: int) -> np.ndarray:
    count = (x.size - n) // h + 1
    return np.lib.stride_tricks.as_strided(x, (count, n), (x.strides[0] * h, x.strides[0]))


def subtract_ring(before: np.ndarray, window: np.ndarray, rate: int) -> np.ndarray:
    """`window` (samples at `rate` Hz) with the ring measured in `before` (the audio just before it; its last
    context_samples(rate) are used) subtracted; float32, the window's length.  Unchanged when `before` is shorter
    than that, silent, or the window is empty."""
    n, h = _sizes(rate)
    need = context_samples(rate)
    window = np.asarray(window, dtype=np.float32)
    if window.size == 0 or np.asarray(before).size < need:
        return window
    hann = np.hanning(n + 1)[:-1]
    nfft = _fft_length(n)  # each frame zero-padded to it
    pre = np.ascontiguousarray(before[-need:], dtype=np.float64)
    ring = np.abs(np.fft.rfft(_frames(pre, n, h) * hann, nfft, axis=1)).mean(axis=0)
    if not np.max(ring) > 0:
        return window
    # the window with one frame of what came before it (so its first frames see the ring they share with it) and
    # zeros after it, whole frames to the end
    tail = n + (-(window.size + n) % h)
    seg = np.concatenate([pre[-n:], window.astype(np.float64), np.zeros(tail)])
    spec = np.fft.rfft(_frames(seg, n, h) * hann, nfft, axis=1)
    mag = np.abs(spec)
    kept = np.maximum(mag - ring, FLOOR * mag)
    frames = np.fft.irfft(spec * (kept / np.maximum(mag, 1e-30)), nfft, axis=1)[:, :n] * hann
    # overlap-add, a hop at a time: hop j sums part q of frame j - q
    q = n // h
    out = np.zeros((len(frames) + q - 1, h))
    norm = np.zeros_like(out)
    for k in range(q):
        out[k: k + len(frames)] += frames[:, k * h: (k + 1) * h]
        norm[k: k + len(frames)] += (hann[k * h: (k + 1) * h] ** 2)[None, :]
    return (out.ravel() / np.maximum(norm.ravel(), 1e-6))[n: n + window.size].astype(np.float32)
