"""The one realtime engine: blocks -> onsets -> per-hit windows -> model -> callbacks.

File and device input take the same path: a source writes raw blocks into a
`BlockRing`; one worker thread reads them and runs `Engine.process_block`
(channel mix, clean-up, streaming resampling to 16 kHz, onset detection,
windows, ONNX Runtime inference) and calls the callbacks (OSC, display, CSV)
with each `Estimate`.  Nothing here imports TensorFlow or PortAudio.
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
from realtime.resampling import StreamResampler
from realtime.windows import PreparedWindow, WindowTracker


class Model(Protocol):
    def predict(self, batch: np.ndarray) -> np.ndarray: ...


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
    """Remove a slowly varying DC offset (time constant 0.2 s) before anything else."""
    early_from: str = "input"
    """Cut the early window from the 'input'-rate audio (no resampler delay) or the 16 kHz 'stream'."""


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
    nonfinite_samples: int = 0
    clipped_samples: int = 0
    overflows: int = 0
    dropped_frames: int = 0
    xruns: int = 0
    callback_errors: int = 0
    timings: deque = field(default_factory=lambda: deque(maxlen=100_000))
    last_early_ms: float = math.nan
    last_final_ms: float = math.nan

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
            "blocks": self.blocks, "frames": self.frames, "nonfinite_samples": self.nonfinite_samples,
            "clipped_samples": self.clipped_samples, "overflows": self.overflows,
            "dropped_frames": self.dropped_frames, "xruns": self.xruns, "callback_errors": self.callback_errors,
            "early_from_onset_block": pct([h.t_early_sent - h.t_onset_block for h in t]),
            "early_from_ready_block": pct([h.t_early_sent - h.t_early_ready for h in t]),
            "final_from_onset_block": pct([h.t_final_sent - h.t_onset_block for h in t]),
            "final_from_ready_block": pct([h.t_final_sent - h.t_final_ready for h in t]),
        }


Callback = Callable[[Estimate], None]


def _make_detector(rate: int, params):
    from realtime.onsets import OnsetDetector, OnsetParams

    return OnsetDetector(rate, params if params is not None else OnsetParams())


class Engine:
    """Single-threaded core: feed blocks with `process_block`, end with `finish`."""

    def __init__(self, model: Model, sample_rate: int, config: EngineConfig = EngineConfig(),
                 callbacks: list[Callback] | None = None, mix: tuple[int, ...] | None = None,
                 detector=None):
        if sample_rate < 8000:
            raise ValueError(f"input sample rate {sample_rate} Hz: need at least 8000 Hz")
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
        self.resampler = StreamResampler(self.sample_rate, SAMPLE_RATE)
        early_rate = self.sample_rate if config.early_from == "input" and self.sample_rate != SAMPLE_RATE else None
        self.windows = WindowTracker(config.window_s, config.early_ms, config.preroll_ms, early_rate=early_rate)
        self._early_history = self.windows.early_history if early_rate else None
        self.stats = EngineStats()
        self._dc = 0.0
        self._dc_tau = 0.2
        self._ramps: dict[int, np.ndarray] = {}
        self._detected = 0  # samples fed to the detector
        self._blocks: deque = deque(maxlen=4096)  # (t_arrival, wall_arrival) of recent blocks
        # end sample (input rate) of each of those blocks, for finding the block holding an onset
        self._block_ends: deque = deque(maxlen=4096)
        self._in_samples = 0
        self._next_id = 0
        self._timing: dict[int, HitTiming] = {}
        self.callback_error: Exception | None = None
        self.finished = False

    # -- per block ---------------------------------------------------------
    def process_block(self, data: np.ndarray, t_arrival: float | None = None,
                      wall_arrival: float | None = None) -> list[Estimate]:
        """One block, (frames,) mono or (frames, channels) at the input rate; returns the estimates it completed."""
        t_arrival = time.perf_counter() if t_arrival is None else t_arrival
        wall_arrival = time.time() if wall_arrival is None else wall_arrival
        x = self._mono(data)
        if x.size == 0:
            return []
        x = self._clean(x)
        self._in_samples += x.size
        self._blocks.append((t_arrival, wall_arrival))
        self._block_ends.append(self._in_samples)
        self.stats.blocks += 1
        self.stats.frames += x.size
        if self._early_history is not None:
            self._early_history.append(x)
        y = self.resampler.process(x)
        self.windows.history.append(y)
        onsets = self._detect(y if self.detect_16k else x)
        for onset in onsets:
            self._open_hit(onset)
        return self._emit(self._ready(), t_arrival)

    def finish(self, t_arrival: float | None = None) -> list[Estimate]:
        """End of stream: flush resampler and detector, close every open window."""
        if self.finished:
            return []
        self.finished = True
        t_arrival = time.perf_counter() if t_arrival is None else t_arrival
        y = self.resampler.flush()
        self.windows.history.append(y)
        if self.detect_16k and y.size:
            for onset in self._detect(y):
                self._open_hit(onset)
        flush = getattr(self.detector, "flush", None)
        for onset in (flush() if flush else None) or []:
            self._open_hit(onset)
        return self._emit(self.windows.ready(self.windows.history.end, final_stream=True), t_arrival)

    # -- helpers -----------------------------------------------------------
    def _mono(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim == 1:
            return data
        if self.mix is not None:
            data = data[:, list(self.mix)]
        if data.shape[1] == 1:
            return data[:, 0].copy()
        return data.mean(axis=1, dtype=np.float32)

    def _clean(self, x: np.ndarray) -> np.ndarray:
        """NaN/inf -> the current DC level (silence after DC removal); count clipping; remove DC."""
        peak = np.maximum.reduce(np.abs(x))  # NaN if any sample is NaN, inf if any is infinite
        if not peak < np.inf:
            finite = np.isfinite(x)
            self.stats.nonfinite_samples += int(x.size - np.count_nonzero(finite))
            x = np.where(finite, x, np.float32(self._dc)).astype(np.float32)
            if not finite.any():
                return x - np.float32(self._dc) if self.config.dc_block else x
            peak = np.maximum.reduce(np.abs(x))
        if peak >= 0.999:
            self.stats.clipped_samples += int(np.count_nonzero(np.abs(x) >= 0.999))
        if self.config.dc_block:
            # x.mean() without its overhead: the same float32 sum, divided in float64, rounded to float32
            mean = float(np.float32(float(np.add.reduce(x)) / x.size))
            if self.stats.blocks == 0:
                self._dc = mean  # a stream that starts with an offset has no step
            prev = self._dc
            a = 1.0 - math.exp(-x.size / (self._dc_tau * self.sample_rate))
            self._dc += a * (mean - self._dc)
            if abs(self._dc) > 1e-6 or abs(prev) > 1e-6:
                # the estimate glides from its last value to the new one across the block: a step at each
                # block boundary would be a click (a kick's lopsided waveform moves the estimate quickly)
                x = x - (np.float32(prev) + np.float32(self._dc - prev) * self._ramp_of(x.size))
        return x

    def _ramp_of(self, n: int) -> np.ndarray:
        """(1..n)/n as float32, cached per block size."""
        r = self._ramps.get(n)
        if r is None:
            r = self._ramps[n] = (np.arange(1, n + 1, dtype=np.float32) / np.float32(n))
        return r

    def _detect(self, x: np.ndarray) -> list:
        self._detected += x.size
        return list(self.detector.process(x) or [])

    def _confirmed_to_16k(self) -> int:
        lat = int(getattr(self.detector, "latency_samples", 0) or 0)
        return int((self._detected - lat) * SAMPLE_RATE // self.detector_rate)

    def _ready(self) -> list[PreparedWindow]:
        return self.windows.ready(self._confirmed_to_16k())

    def _onset_seconds(self, onset) -> float:
        """An Onset (its .time, else .sample at the detector's rate) or a bare time in seconds."""
        t = getattr(onset, "time", None)
        if t is None and hasattr(onset, "sample"):
            t = onset.sample / self.detector_rate
        return float(onset if t is None else t)

    def _open_hit(self, onset) -> None:
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
        self.stats.hits += 1
        timing = HitTiming(hit_id, onset_s, t_block)
        self._timing[hit_id] = timing
        self.stats.timings.append(timing)

    def _emit(self, windows: list[PreparedWindow], t_ready: float) -> list[Estimate]:
        self.stats.skipped = self.windows.skipped
        if not windows:
            return []
        batch = np.stack([w.model_input for w in windows])
        values = np.asarray(self.model.predict(batch), dtype=np.float64)
        out = []
        for w, v in zip(windows, values):
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


class Runner:
    """Runs an engine on a worker thread fed by a source through a BlockRing."""

    def __init__(self, engine: Engine, source, ring_seconds: float = 2.0, stall_s: float = 2.0):
        from realtime.sources import BlockRing

        self.engine = engine
        self.source = source
        self.ring = BlockRing(max(int(ring_seconds * source.sample_rate), 4 * source.block_size), source.channels)
        self.stall_s = stall_s
        self.error: Exception | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="drumtimbre-engine", daemon=True)

    def start(self) -> "Runner":
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
        try:
            while not self._stop.is_set():
                block = self.ring.read(timeout=0.1)
                self._sync_counters()
                if block is None:  # end of stream
                    check = getattr(self.source, "check", None)
                    if check:
                        check()
                    self.engine.finish()
                    break
                if block is False:
                    check = getattr(self.source, "check", None)
                    if check:
                        check()
                    if self.source.kind == "device" and time.perf_counter() - last > self.stall_s:
                        raise SourceError(f"no audio from the input device for {self.stall_s:.0f} s "
                                          "(disconnected, or the audio server stopped?)")
                    continue
                last = time.perf_counter()
                self.engine.process_block(block.data, block.t_arrival, block.wall_arrival)
        except Exception as exc:
            self.error = exc
        finally:
            self._sync_counters()
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end of the stream (or an error); True when done."""
        return self.done.wait(timeout)

    def stop(self) -> None:
        """Stop the source and the worker (Ctrl-C, errors)."""
        self._stop.set()
        try:
            self.source.stop()
        finally:
            self._thread.join(timeout=3.0)
