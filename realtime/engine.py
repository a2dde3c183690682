"""The one realtime engine: blocks -> onsets -> per-hit windows -> model -> callbacks.

File and device input take the same path: a source writes raw blocks into a
`BlockRing`; one worker thread reads them and runs `Engine.process_block`
(channel mix, clean-up, streaming resampling to 16 kHz, onset detection,
windows, ONNX Runtime inference) and calls the callbacks (OSC, display, CSV)
with each `Estimate`.  Nothing here imports TensorFlow or PortAudio.

The worker takes the blocks in groups (`EngineConfig.group_ms`, `group_frames`):
it asks the ring for `Engine.frames_due` frames - up to the group's length, and
never past the block that completes an open window - and sleeps until they are
there, then runs them at once.  Each block keeps its arrival time, so latencies
still count from the block holding the onset, and the result does not depend on
the grouping.  Most of the CPU at real-time pace is the per-call work running
cold after each sleep, so fewer calls cost much less (BENCHMARKS.md).  While
the input is quiet the worker also holds groups, and runs them with the next
that may hold a hit (`realtime.quiet_hold`).
"""
from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from encoder.descriptors import SAMPLE_RATE
from realtime.input_notes import InputLevels, mix_down
from realtime.onsets import HOLD_MAX_S, fill_nonfinite
from realtime.quiet_hold import HOLD_EVERY_BLOCK_MS, HOLD_MS, QuietHold, RiseGate
from realtime.resampling import StreamResampler
from realtime.windows import PreparedWindow, WindowTracker


class Model(Protocol):
    """What the engine needs of a model (realtime.runtime.OnnxModel, or a stand-in in tests)."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, 16000) prepared windows (float32, 16 kHz) -> (n, 7) descriptors, normalised 0-1."""
        ...


MIN_INPUT_RATE = 8000
"""The lowest input sample rate the engine takes, Hz."""


@dataclass(frozen=True)
class EngineConfig:
    """Engine settings (all listen options that shape the analysis)."""

    window_s: float = 1.0
    """Per-hit window length, seconds (<= 1 s)."""
    early_ms: float = 25.0
    """Audio after the onset used for the early estimate, ms."""
    preroll_ms: float = 3.0
    """Audio kept before the onset, ms."""
    detect_rate: str = "input"
    """Run onset detection at the 'input' rate or at '16000' Hz."""
    onset_params: object | None = None
    """realtime.onsets.OnsetParams, or None for its defaults."""
    dc_block: bool = True
    """Remove a slowly varying DC offset (DC_TAU_S) from the audio the windows are cut from."""
    early_from: str = "input"
    """Cut the early window from the 'input'-rate audio (no resampler delay) or the 16 kHz 'stream'."""
    ring_subtraction: bool = True
    """Take the ring of earlier hits, measured just before each window, out of it (realtime.ring; an early window
    with under realtime.windows.EARLY_RING_MIN_MS of audio is left as it sounds)."""
    group_ms: float | None = None
    """The worker may gather up to this many ms of input blocks before it runs them through the engine at
    once (fewer wake-ups, less CPU; it never waits past the block that completes an open window); None:
    automatic (as much as still lets every hit be detected before its early window closes, at most
    AUTO_GROUP_MAX_MS); 0: every block at once."""


@dataclass(frozen=True)
class Estimate:
    """One estimate for one hit, passed to the callbacks."""

    kind: str
    """'early' or 'final'."""
    hit_id: int
    onset_s: float
    """Onset time in stream seconds."""
    peak_dbfs: float
    """Peak of the hit's window, dBFS."""
    values: np.ndarray
    """(7,) descriptors, normalised 0-1, in DESCRIPTORS order."""
    length_s: float
    """Seconds of audio the estimate saw (pre-roll included)."""
    onset_wall: float
    """Wall-clock time of the onset (time.time() seconds)."""
    t_onset_block: float
    """perf_counter() at the arrival of the input block holding the onset."""
    t_ready_block: float
    """perf_counter() at the arrival of the block that completed this window."""


@dataclass
class HitTiming:
    """Per-hit timestamps (perf_counter seconds) for latency measurements."""

    hit_id: int
    onset_s: float
    t_onset_block: float
    t_early_ready: float = math.nan
    t_early_sent: float = math.nan
    t_final_ready: float = math.nan
    t_final_sent: float = math.nan


@dataclass
class EngineStats:
    """Counters shown in the display and written by `listen --stats`."""

    hits: int = 0
    early: int = 0
    final: int = 0
    skipped: int = 0
    blocks: int = 0
    frames: int = 0
    calls: int = 0
    """Engine runs (process_block calls with audio): fewer than blocks when the worker groups or holds them."""
    nonfinite_samples: int = 0
    clipped_samples: int = 0
    overflows: int = 0
    dropped_frames: int = 0
    xruns: int = 0
    callback_errors: int = 0
    timings: deque = field(default_factory=lambda: deque(maxlen=100_000))
    last_early_ms: float = math.nan
    last_final_ms: float = math.nan
    levels: InputLevels = field(default_factory=InputLevels)
    """The mixed channels' and the mix's energy, the peak: for the warnings of `input_notes`."""

    def input_notes(self) -> str:
        """'; N non-finite samples (taken as silence), M clipped samples' for the end-of-run summary lines,
        each part only when its count is not 0, then any warning of InputLevels.notes ('' for a clean input)."""
        notes = [f"{n} {what}" for n, what in ((self.nonfinite_samples, "non-finite samples (taken as silence)"),
                                               (self.clipped_samples, "clipped samples")) if n]
        notes += self.levels.notes()
        return "; " + ", ".join(notes) if notes else ""

    def summary(self) -> dict:
        """Counters and latency percentiles (ms, from the arrival of the onset's block)."""
        def pct(values: list[float]) -> dict:
            v = np.array([x for x in values if math.isfinite(x)])
            if v.size == 0:
                return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
            return {"n": int(v.size), "p50_ms": float(np.percentile(v, 50) * 1e3),
                    "p95_ms": float(np.percentile(v, 95) * 1e3), "max_ms": float(v.max() * 1e3)}
        t = list(self.timings)
        return {
            "hits": self.hits, "early": self.early, "final": self.final, "skipped": self.skipped,
            "blocks": self.blocks, "frames": self.frames, "calls": self.calls,
            "nonfinite_samples": self.nonfinite_samples,
            "clipped_samples": self.clipped_samples, "overflows": self.overflows,
            "dropped_frames": self.dropped_frames, "xruns": self.xruns, "callback_errors": self.callback_errors,
            "early_from_onset_block": pct([h.t_early_sent - h.t_onset_block for h in t]),
            "early_from_ready_block": pct([h.t_early_sent - h.t_early_ready for h in t]),
            "final_from_onset_block": pct([h.t_final_sent - h.t_onset_block for h in t]),
            "final_from_ready_block": pct([h.t_final_sent - h.t_final_ready for h in t]),
        }


Callback = Callable[[Estimate], None]

DC_TAU_S = 0.2
"""Time constant of the DC estimate, s: an offset is gone within a second.  A longer one would move less
with a kick's lopsided waveform, but after each hit leave a small offset in the silence that follows for
longer (2 s: enough to make a silent window's peak exceed encoder.audio.SILENCE_PEAK)."""
DC_START_S = 0.01
"""The DC estimate starts at the mean of the stream's first call's first this many seconds when they are steady
(`start_level`), else at 0."""
DC_CHUNK = 4096
"""Samples per step of the DC average's closed form (r^-k stays under 1.6 at 48 kHz: float32 will do)."""


def start_level(x: np.ndarray) -> float:
    """Where the DC estimate starts, from the stream's first samples `x`: their mean when they are steady (they
    span at most 5 % of it, plus 1e-4 of full scale: an offset the stream starts on, so it is no step), else 0 (a
    stream that starts on a hit, a one-shot file cut at its attack: the hit is no offset)."""
    low, high = float(np.min(x)), float(np.max(x))
    mean = float(np.mean(x, dtype=np.float64))
    return mean if high - low <= 0.05 * abs(mean) + 1e-4 else 0.0


def block_parts(parts: tuple[tuple[int, float], ...], frames: int, t_arrival: float) -> tuple[tuple[int, float], ...]:
    """A call's input blocks, ((frames, arrival), ...): `parts` when they are several and add up to the call's
    `frames`, else the call as one block arriving at `t_arrival`."""
    return parts if len(parts) >= 2 and sum(n for n, _ in parts) == frames else ((frames, t_arrival),)


AUTO_GROUP_MAX_MS = 12.0
"""The most audio the worker gathers before running the engine when `group_ms` is automatic, ms: 4
blocks of 128 frames at 48 kHz; longer groups save little more (the hits' windows wake it anyway)."""


def _make_detector(rate: int, params):
    from realtime.onsets import OnsetDetector, OnsetParams

    return OnsetDetector(rate, params if params is not None else OnsetParams())


class Engine:
    """Single-threaded core: feed blocks with `process_block`, end with `finish`."""

    def __init__(self, model: Model, sample_rate: int, config: EngineConfig = EngineConfig(),
                 callbacks: list[Callback] | None = None, mix: tuple[int, ...] | None = None,
                 detector=None):
        if sample_rate < MIN_INPUT_RATE:
            raise ValueError(f"input sample rate {sample_rate} Hz: need at least {MIN_INPUT_RATE} Hz")
        if config.detect_rate not in ("input", "16000"):
            raise ValueError(f"detect_rate {config.detect_rate!r}: expected 'input' or '16000'")
        if config.early_from not in ("input", "stream"):
            raise ValueError(f"early_from {config.early_from!r}: expected 'input' or 'stream'")
        self.model = model
        self.sample_rate = int(sample_rate)
        self.config = config
        self.callbacks: list[Callback] = list(callbacks or [])
        self.mix = mix
        self.detect_16k = config.detect_rate == "16000"
        self.detector_rate = SAMPLE_RATE if self.detect_16k else self.sample_rate
        self.detector = detector if detector is not None else _make_detector(self.detector_rate, config.onset_params)
        self.detector_latency = int(getattr(self.detector, "latency_samples", 0) or 0)
        """Worst-case samples (at the detector's rate) between an onset and the end of the block reporting it."""
        self.resampler = StreamResampler(self.sample_rate, SAMPLE_RATE)
        early_rate = self.sample_rate if config.early_from == "input" and self.sample_rate != SAMPLE_RATE else None
        min_interval = getattr(self.detector, "min_interval", None)  # samples at the detector's rate
        self.windows = WindowTracker(config.window_s, config.early_ms, config.preroll_ms, early_rate=early_rate,
                                     ring_subtraction=config.ring_subtraction,
                                     early_confirm_ms=(None if min_interval is None
                                                       else 1000.0 * min_interval / self.detector_rate))
        self._early_history = self.windows.early_history if early_rate else None
        self.stats = EngineStats()
        self._dc = 0.0
        self._dc_started = False
        self._last_in = 0.0  # the last input sample (mono, before DC removal): a short NaN/inf run takes it
        self._bad_run = 0  # NaN/inf samples ending the last block
        self._hold_max = max(1, int(round(HOLD_MAX_S * self.sample_rate)))
        self._dc_r = math.exp(-1.0 / (DC_TAU_S * self.sample_rate))
        self._dc_pow: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._dc_start = max(1, int(round(DC_START_S * self.sample_rate)))
        self._held: list[tuple[np.ndarray, tuple[tuple[int, float], ...]]] = []  # see _gather
        self._held_frames = 0
        self._detected = 0  # samples fed to the detector
        self._blocks: deque = deque(maxlen=4096)  # (t_arrival, wall_arrival) of recent blocks
        # end sample (input rate) of each of those blocks, for finding the block holding an onset
        self._block_ends: deque = deque(maxlen=4096)
        self._block_out: deque = deque(maxlen=4096)  # 16 kHz samples out of the resampler at each block's end
        self._in_samples = 0
        self._next_id = 0
        self._timing: dict[int, HitTiming] = {}
        self._known_at: dict[int, float] = {}  # hit id -> input sample count at which its onset was known
        self.callback_error: Exception | None = None
        self.finished = False

    # -- per block ---------------------------------------------------------
    def process_block(self, data: np.ndarray, t_arrival: float | None = None,
                      wall_arrival: float | None = None, parts: tuple[tuple[int, float], ...] = ()
                      ) -> list[Estimate]:
        """One block, (frames,) mono or (frames, channels) at the input rate; returns the estimates it completed.

        `parts`: when `data` joins several input blocks, ((frames, perf_counter() at arrival), ...) of each,
        oldest first (`t_arrival` / `wall_arrival` are the last one's): the hits' latencies count from their
        own block, and the DC removal steps block by block, so the result does not depend on the grouping.
        """
        t_arrival = time.perf_counter() if t_arrival is None else t_arrival
        wall_arrival = time.time() if wall_arrival is None else wall_arrival
        if not self._dc_started and self.config.dc_block and not self.finished:
            # the stream's first DC_START_S: held, then run at once
            if not self._gather(data, t_arrival, parts):
                return []
            data, parts = self._take_held()
        x = self._mono(data)
        if x.size == 0:
            return []
        parts = block_parts(parts, x.size, t_arrival)
        if 2 * len(parts) > self._blocks.maxlen:  # more blocks in one call than the deques keep (tiny blocks)
            for name in ("_blocks", "_block_ends", "_block_out"):
                setattr(self, name, deque(getattr(self, name), maxlen=4 * len(parts)))
        first = len(self._blocks)  # index (in _blocks) of this call's first block, before the deque rolls
        call_start = self._in_samples
        raw = x  # the detector takes the input as it came (it blocks DC and marks NaN/inf stretches itself):
        # the same onsets as `drumtimbre onsets`, whatever the block size or grouping
        x = self._clean(x)
        wall_offset = wall_arrival - t_arrival
        if len(parts) == 1:
            ys = [self.resampler.process(x)]
        else:  # block by block: the 16 kHz output at each block's end is then what a call per block had
            ys, pos = [], 0
            for n, _ in parts:
                ys.append(self.resampler.process(x[pos:pos + n]))
                pos += n
        out16 = self.resampler.samples_out - sum(y.size for y in ys)
        for (n, t), y in zip(parts, ys):
            self._in_samples += n
            out16 += y.size
            self._blocks.append((t, t + wall_offset))
            self._block_ends.append(self._in_samples)
            self._block_out.append(out16)
        first = max(0, min(first, self._blocks.maxlen - len(parts)))
        self.stats.blocks += len(parts)
        self.stats.frames += x.size
        self.stats.calls += 1
        if self._early_history is not None:
            self._early_history.append(x)
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        self.windows.history.append(y)
        onsets = self._detect(y if self.detect_16k else raw)
        for onset in onsets:
            self._open_hit(onset, call_start)
        return self._emit(self._ready(), first)

    def _gather(self, data: np.ndarray, t_arrival: float, parts: tuple[tuple[int, float], ...]) -> bool:
        """Hold the stream's first calls until they hold DC_START_S of audio, so that where the DC estimate starts
        (`start_level`) does not depend on the block size; whether they now do."""
        data = np.asarray(data, dtype=np.float32)
        n = int(data.shape[0]) if data.ndim else 0
        if n:
            self._held.append((data, block_parts(parts, n, t_arrival)))
            self._held_frames += n
        return self._held_frames >= self._dc_start

    def _take_held(self) -> tuple[np.ndarray, tuple[tuple[int, float], ...]]:
        """The held calls as one: (their data joined, their blocks' parts)."""
        held, self._held, self._held_frames = self._held, [], 0
        if len(held) == 1:
            return held[0]
        return np.concatenate([d for d, _ in held]), tuple(q for _, p in held for q in p)

    def frames_due(self, limit: int, soonest: bool = False) -> int:
        """Input frames the caller may gather before its next `process_block` (>= 1): at most `limit`, and
        never past the sample that completes an open window (as far as the resampler's delay is known; its
        output comes in bursts, so its current delay may shrink at the next block: `soonest` counts none, the
        earliest the window can be complete)."""
        due = self._in_samples + max(1, int(limit))
        for hit in self.windows.pending:
            due = min(due, self._due_sample(hit, "final" if hit.early_done else "early", soonest))
        return max(1, math.ceil(due - self._in_samples))

    def _due_sample(self, hit, kind: str, soonest: bool = False) -> float:
        """The input sample count (estimated; `soonest`: at the earliest) at which `hit`'s early or final window
        is complete."""
        ratio = self.sample_rate / SAMPLE_RATE
        lag = 0.0 if soonest else self._resampler_lag()
        if kind == "early":
            there = float(hit.early_end) if self._early_history is not None else (hit.early_end + lag) * ratio
            if not self.windows.early_confirm:
                return there
            return max(there, self._confirmed_sample(self.windows.early_end_16k(hit), lag, ratio))
        return max((hit.end + lag) * ratio, self._confirmed_sample(hit.end, lag, ratio))

    def _confirmed_sample(self, end16: int, lag: float, ratio: float) -> float:
        """The input sample count (estimated) at which the detector has ruled out an onset before 16 kHz index
        `end16`."""
        latency = self.detector_latency
        return (end16 + lag) * ratio + latency * ratio if self.detect_16k else end16 * ratio + latency

    def finish(self, t_arrival: float | None = None) -> list[Estimate]:
        """End of stream: flush resampler and detector, close every open window."""
        if self.finished:
            return []
        self.finished = True
        t_arrival = time.perf_counter() if t_arrival is None else t_arrival
        out = []
        if self._held:  # a stream shorter than DC_START_S
            data, parts = self._take_held()
            out = self.process_block(data, parts[-1][1], None, parts)
        y = self.resampler.flush()
        self.windows.history.append(y)
        if self.detect_16k and y.size:
            for onset in self._detect(y):
                self._open_hit(onset)
        flush = getattr(self.detector, "flush", None)
        for onset in (flush() if flush else None) or []:
            self._open_hit(onset)
        return out + self._emit(self.windows.ready(self.windows.history.end, final_stream=True), None, t_arrival)

    # -- helpers -----------------------------------------------------------
    def _mono(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim == 1:
            return data
        return mix_down(data, self.mix, self.stats.levels)

    def _clean(self, x: np.ndarray) -> np.ndarray:
        """NaN/inf -> a straight line between the samples around them (a run of up to HOLD_MAX_S: a stray bad
        sample is no click) or the current DC level (a longer run: silence after DC removal), as the detector
        fills them; count clipping; note the smallest and largest sample (the peak, for a file stored at another
        scale; no sound at all); remove DC."""
        low, high = float(np.minimum.reduce(x)), float(np.maximum.reduce(x))  # NaN if any sample is NaN
        if not (math.isfinite(low) and math.isfinite(high)):
            finite = np.isfinite(x)
            self.stats.nonfinite_samples += int(x.size - np.count_nonzero(finite))
            x, _, self._bad_run = fill_nonfinite(x, self._last_in, self._bad_run, self._hold_max,
                                                 long_value=self._dc)
            low, high = float(np.minimum.reduce(x)), float(np.maximum.reduce(x))
        else:
            self._bad_run = 0
        self._last_in = float(x[-1])
        self.stats.levels.add_span(low, high)
        if max(-low, high) >= 0.999:
            self.stats.clipped_samples += int(np.count_nonzero(np.abs(x) >= 0.999))
        if not self.config.dc_block:
            return x
        return self._remove_dc(x)

    def _remove_dc(self, x: np.ndarray) -> np.ndarray:
        """x minus the DC estimate: an exponential moving average of the input, sample by sample (time
        constant DC_TAU_S).  Sample by sample, so the same for any block size or grouping; started at the stream's
        level when it starts steady (`start_level`); in closed form, DC_CHUNK samples at a time:
        d[k] = r^k (d[0] + (1 - r) sum_{j<=k} r^-j x[j]) (float32: the sum's rounding, times 1 - r, stays
        under 1e-7)."""
        if not self._dc_started:
            self._dc = start_level(x[:self._dc_start])
            self._dc_started = True
        if x.size <= DC_CHUNK:
            return self._remove_dc_chunk(x)
        return np.concatenate([self._remove_dc_chunk(x[a:a + DC_CHUNK]) for a in range(0, x.size, DC_CHUNK)])

    def _remove_dc_chunk(self, x: np.ndarray) -> np.ndarray:
        up, down = self._dc_powers(x.size)
        d = np.multiply(x, down)
        np.add.accumulate(d, out=d)  # (np.cumsum's wrappers cost more than the sum, on a thread that sleeps)
        d += np.float32(self._dc)
        d *= up
        self._dc = float(d[-1])
        return np.subtract(x, d, out=d)

    def _dc_powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(r^1..r^n, (1 - r) r^-1..r^-n) as float32, r the DC average's per-sample rate, cached per length."""
        p = self._dc_pow.get(n)
        if p is None:
            k = np.arange(1, n + 1, dtype=np.float64)
            p = self._dc_pow[n] = ((self._dc_r ** k).astype(np.float32),
                                   ((1.0 - self._dc_r) * self._dc_r ** -k).astype(np.float32))
        return p

    def _detect(self, x: np.ndarray) -> list:
        self._detected += x.size
        return list(self.detector.process(x) or [])

    def _resampler_lag(self) -> float:
        """16 kHz samples the streaming resampler holds back now (its input so far, at 16 kHz, minus its output)."""
        return self.resampler.samples_in * SAMPLE_RATE / self.sample_rate - self.resampler.samples_out

    def _confirmed_to_16k(self, detected: int | None = None) -> int:
        """16 kHz index up to which the detector has ruled out a further onset, once it has been fed `detected`
        samples (default: all so far)."""
        detected = self._detected if detected is None else detected
        return int((detected - self.detector_latency) * SAMPLE_RATE // self.detector_rate)

    def _ready(self) -> list[PreparedWindow]:
        return self.windows.ready(self._confirmed_to_16k())

    def _onset_seconds(self, onset) -> float:
        """An Onset (its .time, else .sample at the detector's rate) or a bare time in seconds."""
        t = getattr(onset, "time", None)
        if t is None and hasattr(onset, "sample"):
            t = onset.sample / self.detector_rate
        return float(onset if t is None else t)

    def _known_sample(self, onset, call_start: int) -> float:
        """The input sample count at which the detector could report `onset` (its `confirmed` sample, at
        the input rate); without one, the start of this call."""
        confirmed = getattr(onset, "confirmed", 0)
        if not confirmed:
            return call_start + 1
        if not self.detect_16k:
            return float(confirmed) * self.sample_rate / self.detector_rate
        return (confirmed + self._resampler_lag()) * self.sample_rate / SAMPLE_RATE

    def _open_hit(self, onset, call_start: int = 0) -> None:
        onset_s = self._onset_seconds(onset)
        in_sample = onset_s * self.sample_rate
        # the block holding the onset: first block whose end is past the onset sample
        i = bisect.bisect_right(self._block_ends, in_sample)
        i = min(max(i, 0), len(self._blocks) - 1)
        t_block, wall_block = self._blocks[i]
        onset_wall = wall_block - (self._block_ends[i] - in_sample) / self.sample_rate
        hit_id = self._next_id
        self._next_id += 1
        self.windows.add_onset(hit_id, onset_s, onset_wall, t_block)
        self._known_at[hit_id] = self._known_sample(onset, call_start)
        if len(self._known_at) > 256:  # only the latest hits can still cut an open window
            del self._known_at[min(self._known_at)]
        self.stats.hits += 1
        timing = HitTiming(hit_id, onset_s, t_block)
        self._timing[hit_id] = timing
        self.stats.timings.append(timing)

    def _ready_time(self, w: PreparedWindow, first: int) -> float:
        """perf_counter() at the arrival of the block that completed window `w`, among this call's blocks
        (from index `first` in _blocks): the first at whose end the window was ready as a call per block
        would have found it - its audio there (at the input rate or out of the resampler), the detector
        past its end, its own onset confirmed, and the onset that cut it short, if one did."""
        hit = w.hit
        cutter = hit.early_cut_by if w.kind == "early" else hit.cut_by
        known = max(self._known_at.get(hit.hit_id, 0), self._known_at.get(cutter, 0) if cutter is not None else 0)
        last = len(self._blocks) - 1
        for i in range(first, last):
            end_in, end_16 = self._block_ends[i], self._block_out[i]
            if end_in < known:
                continue
            detected = end_16 if self.detect_16k else end_in
            if w.kind == "early":
                if (end_in if self._early_history is not None else end_16) >= hit.early_end and (
                        not self.windows.early_confirm
                        or self._confirmed_to_16k(detected) >= self.windows.early_end_16k(hit)):
                    return self._blocks[i][0]
                continue
            if end_16 >= hit.end and self._confirmed_to_16k(detected) >= hit.end:
                return self._blocks[i][0]
        return self._blocks[last][0]

    def _emit(self, windows: list[PreparedWindow], first: int | None,
              t_ready: float | None = None) -> list[Estimate]:
        """Run the model on the windows and send each estimate; `first`: index in _blocks of this call's
        first block (each window's ready time is its completing block's arrival), or None: `t_ready` for all."""
        self.stats.skipped = self.windows.skipped
        if not windows:
            return []
        ready = [t_ready if first is None else self._ready_time(w, first) for w in windows]
        out = []
        for w, t_ready in zip(windows, ready):
            # one window a run, each sent before the next runs: a batch's float rounding differs from a
            # single window's (1e-7), and which windows share a call depends on the thread's timing, so
            # analyze's table would not be the same from run to run
            v = np.asarray(self.model.predict(w.model_input[None]), dtype=np.float64)[0]
            est = Estimate(w.kind, w.hit.hit_id, w.hit.onset_s, w.peak_dbfs, v, w.length_s,
                           w.hit.onset_wall, w.hit.t_onset_block, t_ready)
            for cb in self.callbacks:
                try:
                    cb(est)
                except Exception as exc:  # a sink failing must not stop the engine
                    self.stats.callback_errors += 1
                    if self.callback_error is None:
                        self.callback_error = exc
            t_sent = time.perf_counter()
            timing = self._timing.get(w.hit.hit_id)
            if w.kind == "early":
                self.stats.early += 1
                self.stats.last_early_ms = (t_sent - w.hit.t_onset_block) * 1e3
                if timing is not None:
                    timing.t_early_ready, timing.t_early_sent = t_ready, t_sent
            else:
                self.stats.final += 1
                self.stats.last_final_ms = (t_sent - w.hit.t_onset_block) * 1e3
                if timing is not None:
                    timing.t_final_ready, timing.t_final_sent = t_ready, t_sent
                self._timing.pop(w.hit.hit_id, None)
            out.append(est)
        # windows closed without a final estimate (cut to nothing, silent) leave no timing behind
        open_ids = {h.hit_id for h in self.windows.pending}
        for hit_id in [k for k in self._timing if k not in open_ids and k < self._next_id - 64]:
            self._timing.pop(hit_id, None)
        return out


def group_frames(engine: Engine, block_size: int) -> int:
    """Input frames the worker may gather before it runs them through `engine` (0: every block at once).

    Automatic (`group_ms` None): the early window's length minus the onset detector's worst-case delay
    (its `latency_samples`, plus the resampler's when it runs at 16 kHz) minus one block, at most
    AUTO_GROUP_MAX_MS: every hit is then detected before its early window closes, and the early estimate
    leaves with the block that completes it, as without grouping.
    """
    sr = engine.sample_rate
    ms = engine.config.group_ms
    if ms is not None:
        if not 0.0 <= float(ms) <= 1000.0:
            raise ValueError(f"group {ms} ms: must be between 0 and 1000 ms")
        return int(float(ms) * sr / 1000.0)
    if engine.detect_16k:
        return 0  # the resampler's look-ahead (20-35 ms) leaves no room
    latency = engine.detector_latency * sr // engine.detector_rate
    room = int(engine.config.early_ms * sr / 1000.0) - latency - (int(block_size) - 1)
    return max(0, min(room, int(AUTO_GROUP_MAX_MS * sr / 1000.0)))


def read_group(ring, engine: Engine, group: int, timeout: float | None, whole: bool = False,
               hold: QuietHold | None = None):
    """The worker's read: from BlockRing `ring`, the blocks `engine` should run next - at least
    `Engine.frames_due` frames (up to `group`, never past a due window), waiting at most `timeout` s for them,
    and as many more as fit in `group`; `whole`: always wait for the whole group (a file read as fast as
    possible: the groups, and so the float rounding of the clean-up and resampler, are then the same from
    run to run, not whatever the reader had written); `hold`: the worker's hold on quiet input (its held
    frames count towards the due window, and a read ends at its next deadline).  BlockRing.read's answer: a Block,
    None (end), False (timeout)."""
    held = hold.held_frames if hold is not None else 0
    due = max(1, engine.frames_due(group + held) - held)
    top = max(due, group)
    if hold is not None:
        due = max(1, hold.frames_wanted(due + held) - held)
        top = max(due, min(top, hold.frames_wanted(top + held) - held))
    return ring.read(timeout=timeout, min_frames=top if whole else due, max_frames=top)


def hold_or_run(hold: QuietHold, engine: Engine, block):
    """Pass a Block the worker has read through its hold: what `engine` should run now (the held blocks and this
    one, joined), or None while the audio is quiet (held)."""
    n = int(block.data.shape[0])
    mono = mix_down(block.data, engine.mix, None) if hold.gate is not None else block.data
    return hold.offer(block, mono, engine.frames_due(hold.held_frames + n + 1, soonest=True))


def quiet_hold(engine: Engine, group: int, whole: bool = False) -> QuietHold:
    """The worker's hold on quiet input (realtime.quiet_hold), for groups of `group` frames (group_frames): with
    `group_ms` automatic and the detector at the input rate, up to HOLD_MS of audio (HOLD_EVERY_BLOCK_MS when
    the early window leaves no room for groups: the early estimate then leaves at the onset's confirmation, and a
    hit the gate does not see waits less); else none, nor for a file read as fast as possible (`whole`)."""
    sr = engine.sample_rate
    if engine.config.group_ms is not None or engine.detect_16k or whole:
        return QuietHold(None, 0, 0)
    gate = RiseGate(sr)
    confirm = engine.detector_latency + gate.chunk  # input frames: the detector runs at the input rate here
    # one run at a rise's confirmation is in time for the early window when the onset cannot lie further
    # before the rising chunk than the detector backtracks (`back`): else every read runs until then
    back = getattr(engine.detector, "back_samples", engine.detector_latency)
    early = int(engine.config.early_ms * sr / 1000.0)
    every_read = group <= 0 or early < back + confirm
    hold_ms = HOLD_EVERY_BLOCK_MS if group <= 0 else HOLD_MS
    return QuietHold(gate, int(hold_ms * sr / 1000.0), confirm, every_read=every_read)


READ_TIMEOUT_S = 0.1
"""The worker wakes this often without audio (to check the source); a device silent this long has its frames short
of a group run."""


class Runner:
    """Runs an engine on a worker thread fed by a source through a BlockRing."""

    def __init__(self, engine: Engine, source, ring_seconds: float = 2.0, stall_s: float = 2.0):
        from realtime.sources import BlockRing

        self.engine = engine
        self.source = source
        self.ring = BlockRing(max(int(ring_seconds * source.sample_rate), 4 * source.block_size), source.channels)
        self.group = group_frames(engine, source.block_size)
        """Input frames the worker may gather before running the engine (0: every block at once)."""
        self.stall_s = max(stall_s, 3.0 * (source.block_size + self.group) / source.sample_rate)
        """Seconds without audio from a device that mean it is gone: at least three blocks (and a group) long (at
        8 kHz a block of 16384 frames lasts 2 s)."""
        self._whole = source.kind == "file" and not getattr(source, "realtime", False)
        self.hold = quiet_hold(engine, self.group, self._whole)
        """The worker's hold on quiet input (realtime.quiet_hold)."""
        self.error: Exception | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._stopping = threading.Event()  # stop() under way: a silent source is no stall
        self._thread = threading.Thread(target=self._work, name="drumtimbre-engine", daemon=True)

    def start(self) -> "Runner":
        """Start the worker thread, then the source (its audio callback or file reader feeds the ring)."""
        self._thread.start()
        self.source.start(self.ring)
        return self

    def _sync_counters(self) -> None:
        s = self.engine.stats
        s.overflows, s.dropped_frames, s.xruns = self.ring.overflows, self.ring.dropped_frames, self.ring.xruns

    def _work(self) -> None:
        from realtime.sources import SourceError
        from realtime.thread_names import ENGINE, name_this_thread

        name_this_thread(ENGINE)
        last = time.perf_counter()
        hold, engine = self.hold, self.engine

        def run(block) -> None:  # a Block, or None: nothing to run yet
            if block is not None:
                engine.process_block(block.data, block.t_arrival, block.wall_arrival, block.parts)

        try:
            while not self._stop.is_set():
                block = read_group(self.ring, engine, self.group, timeout=READ_TIMEOUT_S, whole=self._whole, hold=hold)
                self._sync_counters()
                if self._stop.is_set():  # (stop() gave up waiting: no more callbacks)
                    break
                if block is None or block is False:
                    # the end of the stream, or no audio for a while: what is held, and what the ring has short of
                    # a group (the group's other blocks may not come soon), runs now
                    rest = None
                    if block is False and not self._whole and self.ring.quiet_for() >= READ_TIMEOUT_S:
                        rest = self.ring.read(timeout=0, min_frames=1, max_frames=self.ring.capacity)
                    if rest is not None and rest is not False:
                        last = time.perf_counter()
                        run(hold_or_run(hold, engine, rest))  # (the gate sees every block, in order)
                    run(hold.release())
                if block is None:  # end of stream
                    check = getattr(self.source, "check", None)
                    if check:
                        check()
                    engine.finish()
                    break
                if block is False:
                    check = getattr(self.source, "check", None)
                    if check:
                        check()
                    if self.source.kind == "device" and time.perf_counter() - last > self.stall_s \
                            and not self._stopping.is_set():
                        raise SourceError(f"no audio from the input device for {self.stall_s:.0f} s "
                                          "(disconnected, or the audio server stopped?)")
                    continue
                last = time.perf_counter()
                run(hold_or_run(hold, engine, block))
        except Exception as exc:
            self.error = exc
            if isinstance(exc, SourceError) and self.source.kind == "device":
                # the device is gone, the audio it gave stands: the hits still sounding get their final
                # estimate, their windows cut at the loss, as after Ctrl-C
                try:
                    self.engine.finish()
                except Exception:
                    pass
        finally:
            self._sync_counters()
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end of the stream (or an error), at most `timeout` s (None: no limit); True when done."""
        return self.done.wait(timeout)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the source (Ctrl-C, errors), then let the worker run the audio it already has and close every
        open window, as at the end of a file: the hits still sounding get their final estimate, their window
        cut at the stop and zero-padded.  A worker still busy after `timeout` s stops at its next read."""
        self._stopping.set()
        try:
            self.source.stop()
        finally:
            self.ring.close()
            self._thread.join(timeout=timeout)
            self._stop.set()
