"""Streaming resampling of the live input to the model's 16 kHz.

soxr's streaming resampler with the same HQ filter that `encoder.audio.prepare`
uses offline, so a hit cut from the 16 kHz stream is the hit the model was
trained on (up to the filter's edges).  soxr compensates its own delay: the
k-th output sample is the k-th sample of the offline result; it just arrives
later (about 20-35 ms for 48 kHz -> 16 kHz HQ).
"""
from __future__ import annotations

import numpy as np

from encoder.descriptors import SAMPLE_RATE


class StreamResampler:
    """Mono float32 blocks at `in_rate` Hz -> blocks at `out_rate` Hz (default 16 kHz)."""

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE, quality: str = "HQ"):
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"invalid sample rates {in_rate} -> {out_rate} Hz")
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.passthrough = self.in_rate == self.out_rate
        self._stream = None
        if not self.passthrough:
            import soxr

            self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32", quality=quality)
        self.samples_in = 0
        """Input samples consumed so far."""
        self.samples_out = 0
        """Output samples produced so far (index of the next output sample)."""

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample one mono block; `last=True` flushes the filter (once, at the end)."""
        x = np.ascontiguousarray(block, dtype=np.float32).reshape(-1)
        self.samples_in += x.size
        if self.passthrough:
            y = x.copy()
        else:
            y = self._stream.resample_chunk(x, last=last)
        self.samples_out += y.size
        return y

    def flush(self) -> np.ndarray:
        """The filter's remaining output at the end of the stream."""
        return self.process(np.zeros(0, dtype=np.float32), last=True)
