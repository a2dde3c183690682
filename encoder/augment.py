"""Label-true augmentation of real one-shots: transform, write, then label again.

A transformed hit is a new drum sound whose descriptors are unknown until the
labeller has heard it, so augmentation here only *makes audio*; the recipe
labels it with `encoder.label_run` like any other file.  The transforms are
what happens to real drums between the kit and the model: a sampler's repitch,
EQ, a choked or gated decay, drive, a small room, and two hits of one kit
struck together (kick + hat).

Each variant is seeded by (file path, variant index), so a rebuild writes the
same audio.  A variant keeps its original's group (kit), and
`encoder.splits.assign_by_source` puts a group that appears in several label
CSVs into one split (grouped), or each variant into its original clip's split
(ungrouped: found by its path, see `encoder.splits.variant_of`), so a variant
of a held-out kit or clip never reaches training.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from encoder.descriptors import PEAK, SAMPLE_RATE

TRANSFORMS: tuple[str, ...] = ("repitch", "eq", "choke", "drive", "room", "layer")


@dataclass
class Variant:
    """One augmented clip: its samples (16 kHz, peak PEAK) and what was done."""

    samples: np.ndarray
    recipe: str
    """e.g. 'repitch(+2.4st)+room(0.35s,-14dB)'."""


def seed_of(path: str | Path, index: int) -> int:
    """A stable 64-bit seed from a file path and a variant index."""
    return int.from_bytes(hashlib.sha256(f"{path}\0{index}".encode()).digest()[:8], "little")


def repitch(x: np.ndarray, semitones: float) -> np.ndarray:
    """Play the clip faster (up) or slower (down) by `semitones`, as a sampler does; length changes."""
    import soxr

    ratio = 2.0 ** (semitones / 12.0)
    return soxr.resample(x.astype(np.float64), SAMPLE_RATE * ratio, SAMPLE_RATE, quality="HQ").astype(np.float32)


def _shelf(freq_hz: float, gain_db: float, high: bool) -> tuple[np.ndarray, np.ndarray]:
    """Biquad shelving filter (slope 1) coefficients (b, a) at 16 kHz."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq_hz / SAMPLE_RATE
    cw, alpha = np.cos(w0), np.sin(w0) / 2 * np.sqrt(2.0)
    s = 2 * np.sqrt(amp) * alpha
    sign = -1.0 if high else 1.0
    b = amp * np.array([(amp + 1) - sign * (amp - 1) * cw + s,
                        2 * sign * ((amp - 1) - sign * (amp + 1) * cw),
                        (amp + 1) - sign * (amp - 1) * cw - s])
    a = np.array([(amp + 1) + sign * (amp - 1) * cw + s,
                  -2 * sign * ((amp - 1) + sign * (amp + 1) * cw),
                  (amp + 1) + sign * (amp - 1) * cw - s])
    return b / a[0], a / a[0]


def eq(x: np.ndarray, low_db: float, high_db: float, low_hz: float = 200.0, high_hz: float = 4000.0) -> np.ndarray:
    """Low shelf at `low_hz` and high shelf at `high_hz` with the given gains (dB)."""
    for freq, gain, high in ((low_hz, low_db, False), (high_hz, high_db, True)):
        b, a = _shelf(freq, gain, high)
        x = signal.lfilter(b, a, x)
    return x.astype(np.float32)


def choke(x: np.ndarray, hold_s: float, tau_s: float) -> np.ndarray:
    """Keep the first `hold_s` seconds, then fade with time constant `tau_s` (a choked cymbal, a gated snare)."""
    t = np.arange(len(x)) / SAMPLE_RATE
    return (x * np.exp(-np.maximum(t - hold_s, 0.0) / tau_s)).astype(np.float32)


def drive(x: np.ndarray, gain: float) -> np.ndarray:
    """Soft saturation tanh(gain x) / tanh(gain) of a peak-normalised clip."""
    return (np.tanh(gain * x) / np.tanh(gain)).astype(np.float32)


def room(x: np.ndarray, rt60_s: float, wet_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add a small room: convolution with decaying noise (reverberation time `rt60_s`), `wet_db` under the dry."""
    n = int(min(rt60_s, 1.0) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s)
    ir[: int(0.003 * SAMPLE_RATE)] = 0.0  # first reflections arrive after a few ms
    b, a = signal.butter(1, [150.0, 6000.0], btype="band", fs=SAMPLE_RATE)
    ir = signal.lfilter(b, a, ir)
    wet = signal.fftconvolve(x, ir)[: len(x) + n]
    dry = np.pad(x, (0, len(wet) - len(x)))
    wet *= 10.0 ** (wet_db / 20.0) * np.sqrt(np.sum(dry ** 2) / max(np.sum(wet ** 2), 1e-12))
    return (dry + wet).astype(np.float32)


def layer(x: np.ndarray, other: np.ndarray, gain_db: float, offset_s: float) -> np.ndarray:
    """Mix `other` (another hit) `gain_db` under `x`, starting `offset_s` seconds later (flam-free: < 10 ms)."""
    k = int(round(offset_s * SAMPLE_RATE))
    out = np.zeros(max(len(x), k + len(other)), dtype=np.float32)
    out[: len(x)] += x
    out[k:k + len(other)] += other * 10.0 ** (gain_db / 20.0)
    return out


def make_variant(x: np.ndarray, rng: np.random.Generator, partners: list[np.ndarray]) -> Variant:
    """Apply 1-3 random transforms to a prepared clip `x` (16 kHz, mono) -> a Variant, <= 1 s, peak PEAK."""
    names = list(TRANSFORMS if partners else TRANSFORMS[:-1])
    chosen = rng.choice(names, size=int(rng.integers(1, 4)), replace=False)
    steps = []
    y = x.astype(np.float32)
    for name in (n for n in TRANSFORMS if n in chosen):  # a fixed, natural order
        if name == "repitch":
            st = float(rng.uniform(-5, 5))
            y, step = repitch(y, st), f"repitch({st:+.1f}st)"
        elif name == "eq":
            lo, hi = float(rng.uniform(-9, 9)), float(rng.uniform(-9, 9))
            y, step = eq(y, lo, hi), f"eq(low {lo:+.1f}dB, high {hi:+.1f}dB)"
        elif name == "choke":
            hold, tau = float(rng.uniform(0.01, 0.08)), float(np.exp(rng.uniform(np.log(0.02), np.log(0.3))))
            y, step = choke(y, hold, tau), f"choke({hold * 1000:.0f}ms, tau {tau * 1000:.0f}ms)"
        elif name == "drive":
            g = float(np.exp(rng.uniform(np.log(1.5), np.log(8.0))))
            y, step = drive(y / max(np.max(np.abs(y)), 1e-9), g), f"drive({g:.1f})"
        elif name == "room":
            rt, wet = float(rng.uniform(0.15, 0.8)), float(rng.uniform(-22, -8))
            y, step = room(y, rt, wet, rng), f"room({rt:.2f}s, {wet:.0f}dB)"
        else:
            other = partners[int(rng.integers(len(partners)))]
            g, off = float(rng.uniform(-15, 0)), float(rng.uniform(0, 0.008))
            y, step = layer(y, other, g, off), f"layer({g:.0f}dB, {off * 1000:.1f}ms)"
        steps.append(step)
    y = y[:SAMPLE_RATE]
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError("augmentation produced silent or non-finite audio")
    return Variant((y * (PEAK / peak)).astype(np.float32), "+".join(steps))
