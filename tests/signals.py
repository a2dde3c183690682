"""Generated drum sounds with known properties, for tests."""
from __future__ import annotations

import numpy as np


def kick(rate: int = 44100, seconds: float = 0.6, f0: float = 55.0, seed: int = 0) -> np.ndarray:
    """A sine kick: pitch sweep from 3*f0 down to f0, exponential decay (~0.12 s)."""
    t = np.arange(int(rate * seconds)) / rate
    freq = f0 + 2 * f0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    click = np.random.default_rng(seed).standard_normal(t.size) * np.exp(-t / 0.002) * 0.2
    return (np.sin(phase) * np.exp(-t / 0.12) + click).astype(np.float32)


def hat(rate: int = 44100, seconds: float = 0.3, decay: float = 0.04, seed: int = 0) -> np.ndarray:
    """A hi-hat: high-passed white noise (first difference, twice), fast decay."""
    n = int(rate * seconds)
    noise = np.random.default_rng(seed).standard_normal(n + 2)
    bright = np.diff(noise, n=2)
    t = np.arange(n) / rate
    return (bright * np.exp(-t / decay) * 0.3).astype(np.float32)


def snare(rate: int = 44100, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A snare: 190 Hz body plus noise, both decaying."""
    t = np.arange(int(rate * seconds)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return ((np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.06) + 0.6 * noise * np.exp(-t / 0.09)) * 0.5).astype(np.float32)
