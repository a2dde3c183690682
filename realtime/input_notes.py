"""Warnings about an input that plays but is not what it seems: channels that cancel when mixed to mono, float
samples far beyond full scale, and no sound at all (digital silence, a constant offset, a file of one sample).
Each is counted as the audio streams (`InputLevels`) and named in the end-of-run summaries of listen, analyze and
onsets."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from encoder.audio import SILENCE_PEAK

CANCEL_DB = -20.0
"""The mono mix this far (dB) under its channels' mean level means the channels cancel (out of phase)."""
SIGNAL_RMS = 1e-4
"""Channels under this RMS level (full scale 1; -80 dBFS) hold nothing worth warning about."""
OVER_SCALE = 10.0
"""A peak above this (full scale 1; +20 dBFS) is no float overshoot but a file stored at another scale."""
STILL_SPAN = 2 * SILENCE_PEAK
"""Samples of the mix that never span more than this (full scale 1: within +-SILENCE_PEAK, -80 dBFS, of their
level; the smallest step of 16-bit audio is 3e-5, so dithered 16-bit silence too) hold no sound: the span under
which `drumtimbre predict` (encoder.audio.prepare) refuses a file as constant."""


@dataclass
class InputLevels:
    """Running sums over the input: mean energy of the mixed channels, energy of their mono mix, the smallest and
    largest sample (and so the peak)."""

    channel_energy: float = 0.0
    mix_energy: float = 0.0
    mixed_frames: int = 0
    nonfinite: int = 0
    """NaN/inf samples of the mono mix (counted by `onsets`; listen and analyze count theirs in the engine)."""
    low: float = math.inf
    high: float = -math.inf
    """The smallest and largest sample of the mono mix (finite), before DC removal."""

    def add(self, channels: np.ndarray, mono: np.ndarray) -> None:
        """One block: `channels` (frames, n) as mixed (n > 1), `mono` their mix (frames,); float32, any values."""
        e_ch = float(np.einsum("ij,ij->", channels, channels, dtype=np.float64)) / channels.shape[1]
        e_mix = float(np.dot(mono.astype(np.float64), mono))
        if math.isfinite(e_ch) and math.isfinite(e_mix):  # (a block with NaN/inf is left out)
            self.channel_energy += e_ch
            self.mix_energy += e_mix
            self.mixed_frames += mono.size

    def add_span(self, low: float, high: float) -> None:
        """The block's smallest and largest sample (a block with NaN/inf is left out)."""
        if math.isfinite(low) and math.isfinite(high):
            self.low, self.high = min(self.low, low), max(self.high, high)

    @property
    def peak(self) -> float:
        """The largest absolute sample so far (0 before any)."""
        return max(-self.low, self.high) if self.low <= self.high else 0.0

    def notes(self, channels_option: str = "--channels") -> list[str]:
        """What to tell the user, or []: no sound in the input; the mix's level under its channels (dB) when they
        cancel; a peak far beyond full scale."""
        out = []
        cancel = None
        if self.mixed_frames and self.channel_energy / self.mixed_frames > SIGNAL_RMS ** 2:
            ratio_db = 10 * math.log10(max(self.mix_energy, 1e-300) / self.channel_energy)
            if ratio_db < CANCEL_DB:
                under = f"{-ratio_db:.0f} dB" if ratio_db > -60 else "more than 60 dB"
                cancel = (f"the channels cancel when mixed to mono (the mix {under} under them: out of phase?); "
                          f"choose one with {channels_option} 1")
        if self.low <= self.high and self.high - self.low <= STILL_SPAN and cancel is None:
            # (a mix silent because its channels cancel is said so below, not called silence)
            level = "digital silence" if max(abs(self.low), abs(self.high)) <= STILL_SPAN else (
                f"a constant {(self.low + self.high) / 2:.3g} x full scale")
            out.append(f"no sound in it: every sample within {STILL_SPAN:g} of the others ({level}), so no hit")
        if cancel is not None:
            out.append(cancel)
        if self.peak > OVER_SCALE:
            out.append(f"peak {self.peak:.3g} x full scale (float samples stored at another scale, e.g. 16-bit "
                       f"integers? scale the file to +-1)")
        return out


def mix_down(data: np.ndarray, channels: tuple[int, ...] | None, levels: InputLevels | None) -> np.ndarray:
    """A (frames, n) float32 block -> its mono mix (frames,), float32: the 0-based `channels` (None: all)
    averaged, their energy and the mix's added to `levels` when given (channels that cancel are named at the
    end)."""
    if channels is not None:
        data = data[:, list(channels)]
    if data.shape[1] == 1:
        return data[:, 0].copy()
    mono = data.mean(axis=1, dtype=np.float32)
    if levels is not None:
        levels.add(data, mono)
    return mono
