"""Per-hit windows cut from the 16 kHz stream, prepared exactly as in training.

A hit's window starts a few ms before its onset (pre-roll, so the attack is
whole) and lasts `window_s` seconds, cut short where the next hit's window
begins and at the end of the stream.  The final window is cut from the 16 kHz
stream (soxr streaming, HQ) and goes through `encoder.audio.prepare(samples,
16000)` then `encoder.audio.pad`, the one preparation used for training.
With ring subtraction (the default), the ring of earlier hits, measured in the
audio just before a window (final, or early with at least EARLY_RING_MIN_MS
of audio), is first taken out of it (realtime.ring); the peak level reported
stays that of the window as it sounds.
The early window (pre-roll + `early_ms`) is cut either from that 16 kHz stream
too, or (default) from the input-rate audio and prepared with
`encoder.audio.prepare(samples, input_rate)` - the same function, resampling
the short window itself - so it does not wait for the streaming resampler's
look-ahead (about 20-35 ms at 48 kHz).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from encoder.audio import AudioError, pad, prepare, resample
from encoder.descriptors import SAMPLE_RATE, WINDOW_SAMPLES
from realtime.ring import context_samples, subtract_ring


class History:
    """At least the last `keep` samples of a stream before its newest append, addressed by absolute sample index
    (it holds `capacity` samples: a quarter more, or more after a longer append)."""

    def __init__(self, keep: int):
        self.keep = int(keep)
        self.capacity = self.keep + self.keep // 4
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.end = 0
        """Absolute index one past the newest sample."""

    def _grow(self, capacity: int) -> None:
        held = self.get(self.start, self.end)
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self._buf[np.arange(self.end - held.size, self.end) % self.capacity] = held

    @property
    def start(self) -> int:
        """Absolute index of the oldest sample still held."""
        return max(0, self.end - self.capacity)

    def append(self, x: np.ndarray) -> None:
        """Append samples (any length; only the newest `capacity` are kept)."""
        n = x.size
        if n == 0:
            return
        if n + self.keep > self.capacity:  # a long block (16384 frames at 8 kHz: 2 s): room for it and `keep` before
            self._grow(n + self.keep)
        if n > self.capacity:
            x = x[-self.capacity:]
            self.end += n - self.capacity
            n = self.capacity
        i = self.end % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i:i + first] = x[:first]
        if first < n:
            self._buf[:n - first] = x[first:]
        self.end += n

    def get(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples [start, stop) (clamped to what is held)."""
        start = max(start, self.start)
        stop = min(stop, self.end)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        i, length = start % self.capacity, stop - start
        if i + length <= self.capacity:
            return self._buf[i:i + length].copy()
        return np.concatenate([self._buf[i:], self._buf[:length - (self.capacity - i)]])


@dataclass
class Hit:
    """One detected hit and the state of its window (indices: 16 kHz samples)."""

    hit_id: int
    onset_s: float
    """Onset time, seconds since the start of the stream."""
    start: int
    """First sample of the window (onset minus pre-roll)."""
    end: int
    """One past the last sample of the window (may move earlier when cut)."""
    early_end: int
    """One past the last sample of the early window (at the early window's rate)."""
    early_start: int = 0
    """First sample of the early window (at the early window's rate)."""
    onset_wall: float = 0.0
    """Wall-clock time of the onset (time.time() seconds)."""
    t_onset_block: float = 0.0
    """perf_counter() when the input block holding the onset arrived."""
    early_cut_by: int | None = None
    """The hit whose onset cut the early window short, if one did."""
    cut_by: int | None = None
    """The hit whose onset cut the final window short, if one did."""
    early_done: bool = False


@dataclass(frozen=True)
class PreparedWindow:
    """A window ready for the model."""

    hit: Hit
    kind: str
    """'early' or 'final'."""
    model_input: np.ndarray
    """(16000,) float32: prepared and zero-padded."""
    peak_dbfs: float
    """Peak level of the window before normalisation, dBFS (at 16 kHz)."""
    length_s: float
    """Seconds of audio in the window."""


def dbfs(peak: float) -> float:
    """Linear peak -> dBFS (floor -200)."""
    return 20.0 * math.log10(peak) if peak > 1e-10 else -200.0


def prepare_window(samples: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[np.ndarray, float] | None:
    """Window at `rate` Hz -> (model input (16000,), source peak) as in training; None if empty or silent."""
    if samples.size == 0:
        return None
    try:
        clip = prepare(samples, rate)
    except AudioError:
        return None
    return pad(clip.samples, WINDOW_SAMPLES), clip.source_peak


EARLY_RING_MIN_MS = 10.0
"""Ring subtraction leaves an early window as it sounds when it holds less than this much audio after the onset, ms:
on 5 ms it gained nothing (10 ms: 7 %, 25 ms: 18 % less error in a played part; BENCHMARKS.md, "The early
estimate's ring") and it would add about 1 ms to the early estimate's latency, which a short setting is for."""
MAX_WINDOW_S = WINDOW_SAMPLES / SAMPLE_RATE
"""The longest per-hit window, s: the model sees at most this much."""
MAX_PREROLL_MS = 50.0
"""The longest pre-roll before an onset, ms."""


def window_conflict(window_s: float, early_ms: float, preroll_ms: float) -> str | None:
    """Which setting clashes with the window (each in range alone): 'early_ms' when the early window is longer than
    the window, 'preroll_ms' when the window, which starts at the pre-roll, ends before the onset; else None."""
    if early_ms > 1000.0 * window_s:
        return "early_ms"
    if not 1000.0 * window_s - preroll_ms >= 1000.0 / SAMPLE_RATE:
        return "preroll_ms"
    return None


class WindowTracker:
    """Turns onsets and 16 kHz audio into early and final windows."""

    def __init__(self, window_s: float = 1.0, early_ms: float = 25.0, preroll_ms: float = 3.0,
                 history_s: float = 4.0, early_rate: int | None = None, ring_subtraction: bool = True,
                 early_confirm_ms: float | None = None):
        """`early_rate`: cut early windows from an input-rate history (`early_history`,
        fed by the caller) at this rate instead of from the 16 kHz stream.  `ring_subtraction`: take the ring of
        earlier hits, measured just before each final window and each early one of at least EARLY_RING_MIN_MS,
        out of it (realtime.ring).  `early_confirm_ms`: the onset detector's minimum interval, ms: an early window
        (pre-roll + early_ms) longer than it could hold the next onset, so it then waits, as a final window does,
        until the detector has ruled one out (else whether the next onset cut it would depend on the block
        size); None: never waits."""
        if not 0.0 < window_s <= MAX_WINDOW_S:
            raise ValueError(f"window {window_s} s: must be > 0 and <= {MAX_WINDOW_S} s "
                             "(the model sees at most 1 s)")
        conflict = window_conflict(window_s, early_ms, preroll_ms)
        if not 0.0 < early_ms or conflict == "early_ms":  # (NaN fails too)
            raise ValueError(f"early estimate at {early_ms} ms: must be more than 0 (the early window must hold some "
                             f"of the hit) and within the window ({window_s} s)")
        if not 0.0 <= preroll_ms <= MAX_PREROLL_MS:
            raise ValueError(f"pre-roll {preroll_ms} ms: must be between 0 and {MAX_PREROLL_MS:g} ms")
        if conflict == "preroll_ms":
            raise ValueError(f"window {window_s} s with a pre-roll of {preroll_ms} ms: the window would end before "
                             "the onset and hold none of the hit (it starts at the pre-roll)")
        self.window = int(round(window_s * SAMPLE_RATE))
        self.preroll = int(round(preroll_ms * SAMPLE_RATE / 1000.0))
        self.history = History(int(history_s * SAMPLE_RATE) + self.window)
        self.early_rate = int(early_rate) if early_rate else SAMPLE_RATE
        self.early_history = History(int(2.0 * self.early_rate)) if early_rate else self.history
        self.early_len = int(round(early_ms * self.early_rate / 1000.0))
        self.early_preroll = int(round(preroll_ms * self.early_rate / 1000.0))
        self.ring_subtraction = bool(ring_subtraction)
        self.early_ring = self.ring_subtraction and early_ms >= EARLY_RING_MIN_MS
        self.early_confirm = early_confirm_ms is not None and early_ms + preroll_ms > early_confirm_ms
        """Whether early windows wait for the detector's confirmation (see early_confirm_ms)."""
        self.pending: list[Hit] = []
        self.skipped = 0
        """Estimates skipped: window cut to nothing or silent."""

    def add_onset(self, hit_id: int, onset_s: float, onset_wall: float = 0.0, t_onset_block: float = 0.0) -> Hit:
        """Open a window for a new hit at `onset_s` (stream s; `onset_wall` time.time() s, `t_onset_block`
        perf_counter() s of the block holding the onset); cuts the previous open windows at its start."""
        onset16 = int(round(onset_s * SAMPLE_RATE))
        start = max(onset16 - self.preroll, self.history.start)
        onset_e = int(round(onset_s * self.early_rate))
        early_start = max(onset_e - self.early_preroll, self.early_history.start)
        for prev in self.pending:
            if prev.end > start:
                prev.end = max(prev.start, start)
                prev.cut_by = hit_id
            if prev.early_end > early_start:
                prev.early_end = max(prev.early_start, early_start)
                prev.early_cut_by = hit_id
        early_end = min(onset_e + self.early_len, early_start + int(round(self.window * self.early_rate / SAMPLE_RATE)))
        hit = Hit(hit_id, onset_s, start, start + self.window, early_end, early_start=early_start,
                  onset_wall=onset_wall, t_onset_block=t_onset_block)
        self.pending.append(hit)
        return hit

    def ready(self, confirmed_to: int, final_stream: bool = False) -> list[PreparedWindow]:
        """Windows whose audio is complete.

        `confirmed_to`: 16 kHz index up to which the onset detector has
        confirmed there is no further onset (final windows wait for it).
        `final_stream`: the stream has ended; close every open window.
        """
        out: list[PreparedWindow] = []
        available = self.history.end
        early_available = self.early_history.end
        keep: list[Hit] = []
        for hit in self.pending:
            if final_stream:
                hit.end = min(hit.end, available)
                hit.early_end = min(hit.early_end, early_available)
            if not hit.early_done and (final_stream or (early_available >= hit.early_end and (
                    not self.early_confirm or confirmed_to >= self.early_end_16k(hit)))):
                hit.early_done = True
                w = self._prepare(hit, "early", self.early_history, hit.early_start, hit.early_end, self.early_rate)
                if w is not None:
                    out.append(w)
            if hit.early_done and (final_stream or (available >= hit.end and confirmed_to >= hit.end)):
                w = self._prepare(hit, "final", self.history, hit.start, hit.end, SAMPLE_RATE)
                if w is not None:
                    out.append(w)
                continue
            keep.append(hit)
        self.pending = keep
        return out

    def early_end_16k(self, hit: Hit) -> int:
        """The end of `hit`'s early window as a 16 kHz index (rounded up)."""
        return -(-hit.early_end * SAMPLE_RATE // self.early_rate)

    def _prepare(self, hit: Hit, kind: str, history: History, start: int, stop: int,
                 rate: int) -> PreparedWindow | None:
        samples = history.get(start, stop)
        heard = samples
        if (self.ring_subtraction if kind == "final" else self.early_ring) and samples.size:
            heard = subtract_ring(history.get(start - context_samples(rate), start), samples, rate)
        prepared = prepare_window(heard, rate)
        if prepared is None:
            self.skipped += 1
            return None
        x, peak = prepared
        if heard is not samples:  # the level reported is the window's as it sounds
            peak = float(np.max(np.abs(resample(samples, rate))))  # as prepare measures it, at any rate
        return PreparedWindow(hit, kind, x, dbfs(peak), samples.size / rate)
