"""A procedural drum synthesiser: seeded, deterministic one-shots at 16 kHz.

`render(family, seed)` returns a mono float32 clip (<= 1 s, peak 0.99) whose
every random choice (pitch, envelopes, noise colour, body resonance,
distortion, length) comes from `numpy.random.default_rng((family_index, seed))`,
so the same (family, seed) always gives the same samples.  The families cover
what drummers hit: kicks, snares, toms, hi-hats, claps, cymbals, shakers and
hand percussion (cowbell, wood block, rim, conga).  These clips are labelled
by `encoder.labeller` like any other audio: the synthesiser only supplies
variety, never labels.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from encoder.descriptors import PEAK, SAMPLE_RATE

FAMILIES: tuple[str, ...] = ("kick", "snare", "tom", "hat", "clap", "cymbal", "shaker", "perc")

_SR = SAMPLE_RATE
_NYQ = SAMPLE_RATE / 2


def _t(duration: float) -> np.ndarray:
    """Time axis in seconds for `duration` seconds at 16 kHz."""
    return np.arange(int(round(duration * _SR))) / _SR


def _env(t: np.ndarray, attack: float, decay: float, curve: float = 1.0) -> np.ndarray:
    """Linear attack of `attack` s then exponential decay (time constant `decay` s); curve > 1 sharpens it."""
    a = np.clip(t / max(attack, 1e-4), 0.0, 1.0)
    d = np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-4)) ** curve
    return a * d


def _sweep(t: np.ndarray, f_start: float, f_end: float, tau: float) -> np.ndarray:
    """Phase (radians) of a tone gliding exponentially from f_start to f_end Hz with time constant tau s."""
    f = f_end + (f_start - f_end) * np.exp(-t / max(tau, 1e-4))
    return 2 * np.pi * np.cumsum(np.minimum(f, _NYQ * 0.95)) / _SR


def _band(x: np.ndarray, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    """Butterworth filter: band-pass (lo, hi), high-pass (lo only) or low-pass (hi only), Hz."""
    lo = None if lo is None else float(np.clip(lo, 20.0, _NYQ * 0.9))
    hi = None if hi is None else float(np.clip(hi, 40.0, _NYQ * 0.97))
    if lo and hi and lo >= hi * 0.95:
        lo = hi * 0.5
    if lo and hi:
        sos = signal.butter(order, [lo, hi], btype="bandpass", fs=_SR, output="sos")
    elif lo:
        sos = signal.butter(order, lo, btype="highpass", fs=_SR, output="sos")
    elif hi:
        sos = signal.butter(order, hi, btype="lowpass", fs=_SR, output="sos")
    else:
        return x
    return signal.sosfilt(sos, x)


def _resonator(x: np.ndarray, freq: float, q: float) -> np.ndarray:
    """Two-pole resonant body at `freq` Hz with quality `q` (peaking band-pass)."""
    b, a = signal.iirpeak(float(np.clip(freq, 30.0, _NYQ * 0.9)), max(q, 0.5), fs=_SR)
    return signal.lfilter(b, a, x)


def _drive(x: np.ndarray, amount: float) -> np.ndarray:
    """Soft-clip distortion: tanh with gain `amount` (1 = almost clean)."""
    peak = np.max(np.abs(x)) or 1.0
    x = x / peak
    return np.tanh(amount * x) / np.tanh(amount)


def _metal(t: np.ndarray, rng: np.random.Generator, base: float) -> np.ndarray:
    """Six detuned square waves at inharmonic ratios: the metallic source of hats and cymbals."""
    ratios = np.array([1.0, 1.4471, 1.6170, 1.9265, 2.5028, 2.6637]) * rng.uniform(0.9, 1.1, 6)
    out = np.zeros_like(t)
    for r in ratios:
        out += np.sign(np.sin(2 * np.pi * base * r * t + rng.uniform(0, 2 * np.pi)))
    return out / 6


def kick(rng: np.random.Generator) -> np.ndarray:
    """Pitch-swept sine (35-90 Hz body), optional click and distortion; decay 60-600 ms."""
    dur = rng.uniform(0.25, 1.0)
    t = _t(dur)
    f_end = rng.uniform(35, 90)
    body = np.sin(_sweep(t, f_end * rng.uniform(2, 7), f_end, rng.uniform(0.008, 0.06)))
    x = body * _env(t, rng.uniform(0.0005, 0.004), rng.uniform(0.06, 0.6))
    click = _band(rng.standard_normal(t.size), rng.uniform(1000, 4000), None) * _env(t, 0.0002, rng.uniform(0.001, 0.006))
    x = x + rng.uniform(0.0, 0.6) * click
    if rng.random() < 0.5:
        x = _drive(x, rng.uniform(1.0, 6.0))
    return _band(x, None, rng.uniform(2000, 7900))


def snare(rng: np.random.Generator) -> np.ndarray:
    """Two drum-head modes (140-330 Hz) plus band-passed snare-wire noise; decay 60-450 ms."""
    dur = rng.uniform(0.25, 1.0)
    t = _t(dur)
    f0 = rng.uniform(140, 330)
    head_decay = rng.uniform(0.03, 0.2)
    head = (np.sin(_sweep(t, f0 * 1.5, f0, 0.01)) + rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * f0 * rng.uniform(1.5, 1.8) * t))
    head *= _env(t, 0.001, head_decay)
    lo = rng.uniform(500, 3000)
    wires = _band(rng.standard_normal(t.size), lo, lo * rng.uniform(2, 6)) * _env(t, 0.001, rng.uniform(0.06, 0.45))
    mix = rng.uniform(0.3, 0.9)
    x = (1 - mix) * head / (np.max(np.abs(head)) or 1) + mix * wires / (np.max(np.abs(wires)) or 1)
    if rng.random() < 0.4:
        x = _drive(x, rng.uniform(1.0, 5.0))
    return x


def tom(rng: np.random.Generator) -> np.ndarray:
    """Gently swept sine (70-320 Hz) with an inharmonic overtone and a little stick noise; decay 120-700 ms."""
    dur = rng.uniform(0.35, 1.0)
    t = _t(dur)
    f0 = rng.uniform(70, 320)
    decay = rng.uniform(0.12, 0.7)
    x = np.sin(_sweep(t, f0 * rng.uniform(1.1, 1.8), f0, rng.uniform(0.02, 0.12))) * _env(t, 0.001, decay)
    x += rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * f0 * rng.uniform(1.5, 2.3) * t) * _env(t, 0.001, decay * 0.4)
    x += rng.uniform(0.0, 0.3) * _band(rng.standard_normal(t.size), 800, 5000) * _env(t, 0.0005, rng.uniform(0.005, 0.03))
    if rng.random() < 0.3:
        x = _drive(x, rng.uniform(1.0, 4.0))
    return _resonator(x, f0 * rng.uniform(0.95, 1.05), rng.uniform(1, 6)) * 0.5 + x


def hat(rng: np.random.Generator) -> np.ndarray:
    """Metallic square bank + noise, high-passed at 5-7.5 kHz; closed (15-90 ms) or open (150-700 ms)."""
    open_ = rng.random() < 0.35
    decay = rng.uniform(0.15, 0.7) if open_ else rng.uniform(0.015, 0.09)
    t = _t(min(1.0, max(0.1, decay * 6)))
    src = rng.uniform(0.3, 1.0) * _metal(t, rng, rng.uniform(250, 600)) + rng.uniform(0.2, 1.0) * rng.standard_normal(t.size) * 0.5
    x = _band(src, rng.uniform(5000, 7500), None, order=4) * _env(t, rng.uniform(0.0003, 0.003), decay)
    return x


def clap(rng: np.random.Generator) -> np.ndarray:
    """3-5 noise bursts 6-16 ms apart, band-passed around 0.8-2.5 kHz, then a decaying tail (80-350 ms)."""
    t = _t(rng.uniform(0.3, 0.9))
    noise = rng.standard_normal(t.size)
    env = np.zeros_like(t)
    gap = rng.uniform(0.006, 0.016)
    n = int(rng.integers(3, 6))
    for k in range(n):
        start = k * gap * rng.uniform(0.8, 1.2)
        env += (t >= start) * np.exp(-np.maximum(t - start, 0) / 0.004) * (t >= start)
    env += _env(np.maximum(t - n * gap, 0), 0.001, rng.uniform(0.08, 0.35)) * (t >= n * gap) * rng.uniform(0.5, 1.0)
    centre = rng.uniform(800, 2500)
    return _band(noise, centre / rng.uniform(1.5, 3), centre * rng.uniform(1.5, 3)) * env


def cymbal(rng: np.random.Generator) -> np.ndarray:
    """Crash/ride: metallic bank + noise high-passed at 2.5-6 kHz, long decay 0.4-2 s, optional bell."""
    t = _t(1.0)
    decay = rng.uniform(0.4, 2.0)
    src = rng.uniform(0.3, 1.0) * _metal(t, rng, rng.uniform(300, 800)) + rng.standard_normal(t.size) * rng.uniform(0.2, 0.8)
    x = _band(src, rng.uniform(2500, 6000), None, order=2) * _env(t, rng.uniform(0.001, 0.02), decay)
    if rng.random() < 0.4:  # ride bell
        fb = rng.uniform(600, 1500)
        x += rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * fb * t) * np.sin(2 * np.pi * fb * 2.7 * t) * _env(t, 0.001, decay * 0.5)
    return x


def shaker(rng: np.random.Generator) -> np.ndarray:
    """High-passed noise with a slow swell (5-40 ms) and short decay (30-150 ms); one or two grains."""
    t = _t(rng.uniform(0.15, 0.5))
    x = np.zeros_like(t)
    for k in range(int(rng.integers(1, 3))):
        start = k * rng.uniform(0.02, 0.06)
        tt = np.maximum(t - start, 0)
        x += (t >= start) * _env(tt, rng.uniform(0.005, 0.04), rng.uniform(0.03, 0.15), curve=rng.uniform(1, 2))
    x *= _band(rng.standard_normal(t.size), rng.uniform(3000, 7000), None, order=rng.choice([2, 4]))
    return x


def perc(rng: np.random.Generator) -> np.ndarray:
    """Hand percussion: cowbell, wood block, rim click or conga, chosen by the seed."""
    kind = int(rng.integers(0, 4))
    t = _t(rng.uniform(0.2, 0.8))
    if kind == 0:  # cowbell: two square tones through a band-pass
        f = rng.uniform(450, 650)
        src = np.sign(np.sin(2 * np.pi * f * t)) + np.sign(np.sin(2 * np.pi * f * 1.48 * t))
        x = _band(src, f * 0.8, f * 4) * _env(t, 0.0005, rng.uniform(0.05, 0.3))
    elif kind == 1:  # wood block: high damped resonance excited by a click
        f = rng.uniform(500, 2500)
        exc = np.zeros_like(t)
        exc[:int(rng.integers(2, 12))] = 1.0
        x = _resonator(exc, f, rng.uniform(10, 60)) + 0.3 * _resonator(exc, f * rng.uniform(2.2, 3.1), 20)
        x *= _env(t, 0.0, rng.uniform(0.02, 0.12))
    elif kind == 2:  # rim click: very short, bright
        f = rng.uniform(1500, 5000)
        x = _band(rng.standard_normal(t.size), f * 0.5, f * 1.5) * _env(t, 0.0002, rng.uniform(0.004, 0.02))
        x += 0.5 * np.sin(2 * np.pi * rng.uniform(400, 900) * t) * _env(t, 0.0005, rng.uniform(0.01, 0.05))
    else:  # conga / bongo: swept sine with slap noise
        f = rng.uniform(180, 520)
        x = np.sin(_sweep(t, f * rng.uniform(1.1, 1.6), f, 0.02)) * _env(t, 0.0008, rng.uniform(0.06, 0.3))
        x += rng.uniform(0, 0.4) * _band(rng.standard_normal(t.size), 1500, 6000) * _env(t, 0.0003, 0.008)
    if rng.random() < 0.3:
        x = _drive(x, rng.uniform(1.0, 5.0))
    return x


_RENDERERS = {"kick": kick, "snare": snare, "tom": tom, "hat": hat, "clap": clap,
              "cymbal": cymbal, "shaker": shaker, "perc": perc}


def render(family: str, seed: int) -> np.ndarray:
    """One clip of `family` for `seed`: mono float32 at 16 kHz, <= 1 s, peak 0.99, faded to silence."""
    if family not in _RENDERERS:
        raise ValueError(f"unknown drum family {family!r}; choose from {', '.join(FAMILIES)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng([FAMILIES.index(family), int(seed)])
    x = np.asarray(_RENDERERS[family](rng), dtype=np.float64)[:SAMPLE_RATE]
    fade = min(len(x), int(0.01 * _SR))
    x[len(x) - fade:] *= np.linspace(1.0, 0.0, fade)
    if rng.random() < 0.25:  # some recordings start a little after the file does
        x = np.concatenate([np.zeros(int(rng.integers(1, int(0.005 * _SR)))), x])[:SAMPLE_RATE]
    peak = float(np.max(np.abs(x)))
    if not np.isfinite(peak) or peak <= 0:
        raise RuntimeError(f"synth {family} seed {seed} rendered silence")
    return (x * (PEAK / peak)).astype(np.float32)
