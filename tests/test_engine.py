"""The realtime engine on generated drum streams: onsets, windows, preparation, bad input, long streams."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest
import soxr

from encoder.audio import pad, prepare
from encoder.descriptors import SAMPLE_RATE
from realtime.engine import AUTO_GROUP_MAX_MS, Engine, EngineConfig, Runner, group_frames
from realtime.resampling import StreamResampler
from realtime.sources import BlockRing, FileSource, SourceError, import_sounddevice
from realtime.windows import History
from tests.onnx_fixtures import reference_outputs
from tests.signals import hat, kick, snare
from tests.worker_loop import drive

RATE = 48000
TIMES = [0.25, 0.75, 1.0, 1.5, 1.62, 2.5]
SOUNDS = [kick, hat, snare, kick, hat, snare]


def stream(times=TIMES, sounds=SOUNDS, seconds: float = 3.5, rate: int = RATE) -> np.ndarray:
    """Known hits at known times (seconds), mono float32."""
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    for k, (t, make) in enumerate(zip(times, sounds)):
        s = make(rate, seed=k)
        i = int(round(t * rate))
        n = min(s.size, out.size - i)
        out[i:i + n] += s[:n]
    return out


class RecordingModel:
    """The fixture model's function in numpy, recording every batch it is given."""

    def __init__(self):
        self.batches: list[np.ndarray] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(np.array(batch))
        return reference_outputs(batch)


def run_engine(audio: np.ndarray, block: int = 128, config: EngineConfig = EngineConfig(), rate: int = RATE,
               detector=None):
    model = RecordingModel()
    got = []
    engine = Engine(model, rate, config, [got.append], detector=detector)
    for i in range(0, audio.shape[0], block):
        engine.process_block(audio[i:i + block])
    engine.finish()
    return engine, got, model


def finals(got):
    return [e for e in got if e.kind == "final"]


def test_every_hit_found_once_with_early_then_final():
    engine, got, _ = run_engine(stream())
    fin = finals(got)
    assert len(fin) == len(TIMES), [e.onset_s for e in fin]
    onsets = np.array([e.onset_s for e in fin])
    assert np.max(np.abs(onsets - TIMES)) < 0.010, onsets
    assert [e.hit_id for e in fin] == list(range(len(TIMES)))
    # each hit: exactly one early estimate, sent before its final one
    order = [(e.kind, e.hit_id) for e in got]
    for h in range(len(TIMES)):
        assert order.count(("early", h)) == 1
        assert order.index(("early", h)) < order.index(("final", h))
    assert engine.stats.hits == len(TIMES) and engine.stats.skipped == 0


def test_windows_are_cut_from_the_stream_and_prepared_exactly_as_in_training():
    audio = stream()
    cfg = EngineConfig(dc_block=False, preroll_ms=3.0, early_ms=25.0, window_s=1.0, ring_subtraction=False)
    engine, got, model = run_engine(audio, config=cfg)
    full16 = soxr.resample(audio.astype(np.float64), RATE, SAMPLE_RATE, quality="HQ")
    inputs = np.concatenate(model.batches)
    assert inputs.shape == (2 * len(TIMES), 16000)
    fin = finals(got)
    starts = [int(round(e.onset_s * SAMPLE_RATE)) - 48 for e in fin]
    for k, est in enumerate(fin):
        end = min(starts[k] + 16000, starts[k + 1] if k + 1 < len(starts) else full16.size, full16.size)
        assert est.length_s == pytest.approx((end - starts[k]) / SAMPLE_RATE)
        expected = pad(prepare(full16[starts[k]:end], SAMPLE_RATE).samples)
        match = np.min([np.max(np.abs(row - expected)) for row in inputs])
        assert match < 1e-4, f"hit {k}: no model input equals the training preparation (closest {match})"
        assert est.peak_dbfs == pytest.approx(20 * np.log10(np.max(np.abs(full16[starts[k]:end]))), abs=0.01)
    # hit 3 (1.50 s) is cut where hit 4's window starts (1.62 s - pre-roll)
    assert fin[3].length_s == pytest.approx(fin[4].onset_s - fin[3].onset_s, abs=2e-3)
    assert fin[5].length_s == pytest.approx(1.0)


def test_ring_subtraction_takes_what_sounded_before_out_of_the_early_and_final_windows():
    """By default the ring measured just before each window is taken out of it (realtime.ring): the first hit,
    out of silence, keeps the training preparation exactly; a hat over a ringing kick gets the windows subtract_ring
    gives (the final one from the 16 kHz stream, the early one from the input-rate audio); the reported peak levels
    stay those of the audio as it sounds."""
    from realtime.ring import context_samples, subtract_ring

    audio = stream()
    plain = run_engine(audio, config=EngineConfig(dc_block=False, ring_subtraction=False))
    engine, got, model = run_engine(audio, config=EngineConfig(dc_block=False))
    full16 = soxr.resample(audio.astype(np.float64), RATE, SAMPLE_RATE, quality="HQ").astype(np.float32)
    inputs = np.concatenate(model.batches)
    for kind in ("early", "final"):
        now = [e for e in got if e.kind == kind]
        before = [e for e in plain[1] if e.kind == kind]
        assert [e.onset_s for e in now] == [e.onset_s for e in before] and len(now) == len(TIMES)
        assert [e.peak_dbfs for e in now] == [e.peak_dbfs for e in before]
        assert now[0].values.tolist() == before[0].values.tolist()  # silence before: nothing taken away
        assert not np.allclose(now[1].values, before[1].values)  # the hat at 0.75 s, over the kick from 0.25 s
    hat_hit = finals(got)[1]
    start = int(round(hat_hit.onset_s * SAMPLE_RATE)) - 48
    end = start + int(round(hat_hit.length_s * SAMPLE_RATE))
    want = pad(prepare(subtract_ring(full16[start - context_samples(SAMPLE_RATE):start], full16[start:end],
                                     SAMPLE_RATE), SAMPLE_RATE).samples)
    assert np.min([np.max(np.abs(row - want)) for row in inputs]) < 1e-4
    onset = int(round(hat_hit.onset_s * RATE))  # the early window: 3 ms of pre-roll and 25 ms at 48 kHz
    want = pad(prepare(subtract_ring(audio[onset - 144 - context_samples(RATE):onset - 144],
                                     audio[onset - 144:onset + 1200], RATE), RATE).samples)
    assert np.min([np.max(np.abs(row - want)) for row in inputs]) < 1e-4


def test_a_short_early_window_is_left_as_it_sounds():
    """With --early-ms under EARLY_RING_MIN_MS (5 ms, the low-latency setting) the early windows are not ring-
    subtracted (the final ones are): the early estimates are those with ring subtraction off."""
    from realtime.windows import EARLY_RING_MIN_MS

    assert 5.0 < EARLY_RING_MIN_MS <= 25.0
    audio = stream()
    got = {on: run_engine(audio, config=EngineConfig(dc_block=False, early_ms=5.0, ring_subtraction=on))[1]
           for on in (True, False)}
    early = {on: [e.values.tolist() for e in got[on] if e.kind == "early"] for on in got}
    assert len(early[True]) == len(TIMES) and early[True] == early[False]
    assert not np.allclose(finals(got[True])[1].values, finals(got[False])[1].values)


@pytest.mark.parametrize("early_from", ["input", "stream"])
def test_early_window_is_preroll_plus_early_ms_prepared_as_in_training(early_from):
    audio = stream()
    cfg = EngineConfig(dc_block=False, early_ms=25.0, preroll_ms=3.0, early_from=early_from, ring_subtraction=False)
    _, got, model = run_engine(audio, config=cfg)
    inputs = np.concatenate(model.batches)
    early = [e for e in got if e.kind == "early"]
    assert len(early) == len(TIMES)
    full16 = soxr.resample(audio.astype(np.float64), RATE, SAMPLE_RATE, quality="HQ")
    for e in early:
        assert e.length_s == pytest.approx(0.028, abs=1.5 / SAMPLE_RATE)
        if early_from == "input":  # the input-rate window, resampled on its own by prepare()
            onset = int(round(e.onset_s * RATE))
            expected = pad(prepare(audio[onset - 144:onset + 1200], RATE).samples)
        else:  # the window cut from the 16 kHz stream
            onset = int(round(e.onset_s * SAMPLE_RATE))
            expected = pad(prepare(full16[onset - 48:onset + 400], SAMPLE_RATE).samples)
        assert np.min([np.max(np.abs(row - expected)) for row in inputs]) < 1e-4
    fin = finals(got)
    assert any(np.max(np.abs(a.values - b.values)) > 1e-3 for a, b in zip(early, fin))


def test_early_from_input_does_not_wait_for_the_resampler():
    """Per hit, the block after which the early estimate is sent comes earlier with early_from='input'."""
    audio = stream()
    sent_after = {}
    for mode in ("input", "stream"):
        engine = Engine(RecordingModel(), RATE, EngineConfig(early_from=mode))
        blocks = []
        for k, i in enumerate(range(0, audio.size, 128)):
            for est in engine.process_block(audio[i:i + 128]):
                if est.kind == "early":
                    blocks.append(k)
        sent_after[mode] = np.array(blocks)
    assert sent_after["input"].size == sent_after["stream"].size == len(TIMES)
    gain_ms = (sent_after["stream"] - sent_after["input"]) * 128 / RATE * 1000
    assert np.all(gain_ms >= 0) and np.mean(gain_ms) > 10, gain_ms


def test_different_drums_get_different_descriptors():
    _, got, _ = run_engine(stream())
    fin = finals(got)
    kick_v, hat_v = fin[0].values, fin[1].values
    assert np.max(np.abs(kick_v - hat_v)) > 0.02


def test_detection_at_16k_finds_the_same_hits():
    _, got, _ = run_engine(stream(), config=EngineConfig(detect_rate="16000"))
    onsets = np.array([e.onset_s for e in finals(got)])
    assert onsets.size == len(TIMES) and np.max(np.abs(onsets - TIMES)) < 0.012


@pytest.mark.parametrize("rate", [44100, 16000])
def test_other_input_rates(rate):
    _, got, _ = run_engine(stream(rate=rate), rate=rate, block=100)
    onsets = np.array([e.onset_s for e in finals(got)])
    assert onsets.size == len(TIMES) and np.max(np.abs(onsets - TIMES)) < 0.012


def test_bad_input_nan_inf_dc_clipping_and_long_silence_are_survived():
    times = [0.3, 1.5, 7.5, 8.0]
    audio = stream(times, [kick, snare, kick, snare], seconds=9.0)  # 5.5 s of silence from 2.0 s
    audio[int(7.4 * RATE):] *= 3.0  # the last two hits clip
    audio += 0.3  # DC offset
    audio = np.clip(audio, -1.0, 1.0)
    audio[int(1.2 * RATE):int(1.21 * RATE)] = np.nan  # a burst of NaN between hits
    audio[int(1.3 * RATE)] = np.inf
    audio[int(1.31 * RATE)] = -np.inf
    engine, got, _ = run_engine(audio)
    fin = finals(got)
    onsets = np.array([e.onset_s for e in fin])
    assert onsets.size == len(times), onsets
    assert np.max(np.abs(onsets - times)) < 0.015
    assert all(np.all(np.isfinite(e.values)) for e in got)
    assert engine.stats.nonfinite_samples == int(0.01 * RATE) + 2
    assert engine.stats.clipped_samples > 0


def test_dc_removal_glides_without_steps_at_block_boundaries():
    """A kick's lopsided waveform moves the DC estimate quickly; subtracting it block by block as a constant
    would put a step (a click) at every block boundary of the decay, in the audio the hits' windows are cut
    from (the input-rate history of the early windows, here)."""
    t = np.arange(RATE) / RATE
    lopsided = (0.8 * np.maximum(np.sin(2 * np.pi * 60 * t), -0.3) * np.exp(-t / 0.3)).astype(np.float32) + 0.2
    engine = Engine(RecordingModel(), RATE, EngineConfig(), detector=Heard())
    for i in range(0, lopsided.size, 512):
        engine.process_block(lopsided[i:i + 512])
    history = engine.windows.early_history
    assert history.start == 0 and history.end == lopsided.size
    removed = lopsided - history.get(0, lopsided.size)
    assert abs(float(removed[-1]) - 0.2) < 0.05  # the offset is gone...
    assert np.max(np.abs(np.diff(removed[512:]))) < 1e-4  # ...by a glide: no step at any block boundary


class Heard:
    """A detector that keeps what the engine gives it."""
    latency_samples = 0

    def __init__(self):
        self.blocks = []

    def process(self, x):
        self.blocks.append(np.array(x))
        return []

    def flush(self):
        return []


def test_the_detector_hears_the_input_as_it_came_whatever_the_grouping():
    """Offset, NaN and all (the detector blocks DC and marks non-finite stretches itself, as `drumtimbre onsets`
    feeds it): so listen and analyze find the onsets `drumtimbre onsets` finds, at any block size or grouping."""
    audio = np.zeros(RATE, dtype=np.float32)
    for at, shot in ((0.1, kick(RATE)), (0.4, hat(RATE)), (0.7, snare(RATE))):
        n = min(shot.size, audio.size - int(at * RATE))
        audio[int(at * RATE):int(at * RATE) + n] += shot[:n]
    audio += np.float32(0.3)
    audio[RATE // 2: RATE // 2 + 100] = np.nan
    for block, group in ((128, 1), (256, 1), (1000, 1), (128, 4)):
        heard = Heard()
        engine = Engine(RecordingModel(), RATE, EngineConfig(), detector=heard)
        step = block * group
        for i in range(0, audio.size, step):
            data = audio[i:i + step]
            parts = tuple((min(block, data.size - j), 0.0) for j in range(0, data.size, block))
            engine.process_block(data, parts=parts)
        assert np.array_equal(np.concatenate(heard.blocks), audio, equal_nan=True), (block, group)
        removed = engine.windows.early_history.get(0, audio.size)
        assert np.all(np.isfinite(removed)) and abs(float(np.median(removed))) < 0.05  # the model's side is clean


def test_silence_and_windows_cut_to_nothing_never_crash():
    engine, got, _ = run_engine(np.zeros(3 * RATE, dtype=np.float32))
    assert got == [] and engine.stats.hits == 0

    @dataclass
    class Onset:
        sample: int
        time: float
        strength: float

    class Scripted:
        """Onsets at given times: two at the same instant, one in silence."""
        latency_samples = 0

        def __init__(self, times):
            self.times, self.n = list(times), 0

        def process(self, x):
            self.n += x.size
            due = [t for t in self.times if t * RATE < self.n]
            self.times = [t for t in self.times if t * RATE >= self.n]
            return [Onset(int(t * RATE), t, 1.0) for t in due]

        def flush(self):
            return []

    audio = stream([0.5], [snare], seconds=3.0)
    engine, got, _ = run_engine(audio, detector=Scripted([0.5, 0.5, 1.9, 2.999]))
    fin = finals(got)
    assert [e.hit_id for e in fin] == [1]  # hit 0 cut to nothing by hit 1; 1.9 s and the end are silent
    assert engine.stats.hits == 4 and engine.stats.skipped >= 4


def rss_kib() -> int:
    """Resident memory of this process now, KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_long_stream_memory_flat_and_no_hit_dropped():
    """2.5 minutes of hits: every one estimated, and the memory the engine holds (Python objects and numpy
    arrays, as tracemalloc counts them: the same in any test order) grows by little more than the latency
    record of each hit (`EngineStats.timings`, at most 100,000 kept); the process's resident memory, which
    also moves with the allocator's state after the tests before, only loosely."""
    import tracemalloc

    pattern = stream([0.1, 0.35, 0.6, 0.85], [kick, hat, snare, hat], seconds=1.0)
    repeats = 150  # 2.5 minutes of audio at 48 kHz, 600 hits
    model = RecordingModel()
    model.predict = lambda batch: reference_outputs(batch)  # record nothing
    count = {"final": 0, "early": 0}
    engine = Engine(model, RATE, EngineConfig(), [lambda e: count.__setitem__(e.kind, count[e.kind] + 1)])
    rss, traced = [], []
    tracemalloc.start()
    try:
        for r in range(repeats):
            for i in range(0, pattern.size, 512):
                engine.process_block(pattern[i:i + 512])
            if r in (repeats // 3, repeats - 1):
                rss.append(rss_kib())
                traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    engine.finish()
    assert count["final"] == 4 * repeats and count["early"] == 4 * repeats
    grew = (traced[1] - traced[0]) / 1024
    assert grew < 400, f"the engine's memory grew by {grew:.0f} KiB over 100 s of audio (400 hits)"
    assert rss[1] - rss[0] < 16_000, f"memory grew by {rss[1] - rss[0]} KiB over 100 s of audio"
    assert len(engine.windows.pending) == 0 and len(engine._timing) < 64


def test_stream_resampler_matches_offline_soxr_hq():
    x = np.random.default_rng(1).standard_normal(RATE).astype(np.float32) * 0.2
    r = StreamResampler(RATE)
    sizes = np.random.default_rng(2).integers(1, 700, size=400)
    out, i = [], 0
    for n in sizes:
        out.append(r.process(x[i:i + n]))
        i += n
    out.append(r.process(x[i:]))
    out.append(r.flush())
    y = np.concatenate(out)
    ref = soxr.resample(x.astype(np.float64), RATE, SAMPLE_RATE, quality="HQ")
    assert y.size == ref.size and r.samples_out == ref.size
    assert np.max(np.abs(y - ref)) < 1e-5


def test_history_addresses_absolute_indices():
    h = History(100)
    data = np.arange(1000, dtype=np.float32)
    pos = 0
    for n in [30, 70, 1, 99, 150, 7, 250]:
        h.append(data[pos:pos + n])
        pos += n
        assert np.array_equal(h.get(pos - 50, pos), data[max(0, pos - 50):pos])
        held = h.get(0, pos)  # clamped to what is held: at least 100 samples before the newest append
        assert h.start == pos - held.size and np.array_equal(held, data[h.start:pos])
        assert held.size >= min(pos, 100 + n)


def test_a_hit_in_a_call_of_many_tiny_blocks_counts_from_its_own_block():
    # 1 s groups of 16-frame blocks at 96 kHz: 6000 blocks in a call, more than the 4096 the engine kept; a hit in
    # an early block of a call took the oldest block kept as its own (latencies 0.2 s too short)
    rate, bs = 96000, 16
    audio = stream([0.1, 1.2], [snare, snare], seconds=2.0, rate=rate)
    engine = Engine(RecordingModel(), rate, EngineConfig())
    got = []
    engine.callbacks.append(got.append)
    for a in range(0, audio.size, rate):
        seg = audio[a:a + rate]
        parts = tuple((bs, (a + k + bs) / rate) for k in range(0, seg.size, bs))  # arrival: the block's end
        engine.process_block(seg, parts[-1][1], parts[-1][1], parts)
    engine.finish(99.0)
    early = [e for e in got if e.kind == "early"]
    assert len(early) == 2
    for e in early:  # the block holding the onset arrives at its end, within one block after the onset
        assert 0 <= e.t_onset_block - e.onset_s <= 2 * bs / rate, (e.onset_s, e.t_onset_block)


def test_a_long_early_window_is_cut_by_the_next_hit_whatever_the_block_size():
    # --early-ms 50 with hats 48 ms apart: the early window could hold the next onset, so it waits for the
    # detector to rule one out; it was cut only when the next onset happened to be detected first (small blocks
    # sent it whole, 53 ms with the next hat's attack; blocks of 512 or more cut it)
    audio = stream([0.2, 0.248], [hat, hat], seconds=1.0)
    config = EngineConfig(early_ms=50)
    lengths = []
    for block in (64, 128, 1024):
        _, got, _ = run_engine(audio, block=block, config=config)
        lengths.append(next(e.length_s for e in got if e.kind == "early" and e.hit_id == 0))
    assert np.allclose(lengths, lengths[0]) and lengths[0] == pytest.approx(0.048, abs=0.002), lengths
    engine = Engine(RecordingModel(), RATE, EngineConfig())
    assert not engine.windows.early_confirm  # the default early window (3 + 25 ms) cannot hold the next onset


def test_blocks_longer_than_the_early_history_lose_no_early_window():
    # at 8 kHz the input-rate history of the early windows held 2 s, less than one 16384-frame block: a hit early
    # in such a block lost its early estimate
    rate = 8000
    audio = stream([0.5, 2.06, 2.5], [snare, snare, snare], seconds=6.0, rate=rate)
    counts = []
    for block in (128, 16384):
        engine, got, _ = run_engine(audio, block=block, rate=rate)
        counts.append((engine.stats.hits, engine.stats.early, engine.stats.final, engine.stats.skipped))
    assert counts[0] == counts[1] == (3, 3, 3, 0), counts


def test_ring_never_blocks_and_counts_overflows():
    ring = BlockRing(1000, 2)
    block = np.ones((300, 2), dtype=np.float32)
    t = time.perf_counter()
    results = [ring.write(block * k) for k in range(5)]
    assert time.perf_counter() - t < 0.05
    assert results == [True, True, True, False, False]
    assert ring.overflows == 2 and ring.dropped_frames == 600
    got = [ring.read(timeout=0.1) for _ in range(3)]
    assert [float(b.data[0, 0]) for b in got] == [0.0, 1.0, 2.0]
    assert ring.read(timeout=0.01) is False
    assert ring.write(block * 7) and float(ring.read(timeout=0.1).data[-1, 1]) == 7.0  # wraps around
    ring.close()
    assert ring.read(timeout=0.1) is None


def test_ring_takes_raw_interleaved_frames_as_the_device_callback_hands_them():
    # DeviceSource opens a RawInputStream: its callback gets a plain buffer of interleaved float32 frames,
    # which the ring copies as bytes; the frames read back are those of the array, across the wrap too
    ring = BlockRing(1000, 2)
    frames = np.arange(2 * 2100, dtype=np.float32).reshape(2100, 2)
    got = []
    for k in range(7):  # 300-frame blocks: the fourth wraps around the 1000-frame ring
        block = frames[300 * k:300 * (k + 1)]
        assert ring.write(block.tobytes() if k % 2 else block, t_arrival=float(k))
        got.append(ring.read(timeout=0.1, min_frames=300, max_frames=300))
    assert [b.t_arrival for b in got] == [float(k) for k in range(7)]
    assert np.array_equal(np.concatenate([b.data for b in got]), frames)
    assert not ring.write(bytes(4 * 2 * 1001)) and ring.overflows == 1 and ring.dropped_frames == 1001


def test_ring_wakes_the_reader_once_its_frames_are_there_and_keeps_each_blocks_arrival():
    ring = BlockRing(1000, 1)
    blocks = [np.full((128, 1), k, dtype=np.float32) for k in range(8)]
    for k in range(3):
        assert ring.write(blocks[k], t_arrival=float(k))
    t = time.perf_counter()
    assert ring.read(timeout=0.05, min_frames=400, max_frames=400) is False  # 384 frames: not yet
    assert time.perf_counter() - t >= 0.04
    assert ring.write(blocks[3], t_arrival=3.0)
    got = ring.read(timeout=0.05, min_frames=400, max_frames=400)  # the blocks holding frame 400: all four
    assert [n for n, _ in got.parts] == [128] * 4 and [t for _, t in got.parts] == [0.0, 1.0, 2.0, 3.0]
    assert got.t_arrival == 3.0 and np.array_equal(got.data[:, 0], np.repeat(np.arange(4.0), 128))
    for k in range(4, 8):  # wraps around the 1000-frame ring
        assert ring.write(blocks[k], t_arrival=float(k))
    got = ring.read(timeout=0.05, min_frames=1, max_frames=300)  # one block waited for, one more fits
    assert [t for _, t in got.parts] == [4.0, 5.0]
    ring.close()
    got = ring.read(timeout=0.05, min_frames=1000, max_frames=1000)  # closed: what is left, then None
    assert np.array_equal(got.data[:, 0], np.repeat([6.0, 7.0], 128))
    assert ring.read(timeout=0.05) is None


def test_a_reader_waiting_for_a_group_is_woken_by_the_write_that_completes_it():
    import threading

    ring = BlockRing(10_000, 1)
    out = {}
    reader = threading.Thread(target=lambda: out.update(block=ring.read(timeout=2.0, min_frames=512)))
    reader.start()
    for k in range(4):
        time.sleep(0.02)
        assert reader.is_alive()  # still asleep until the fourth block
        ring.write(np.ones((128, 1), dtype=np.float32), t_arrival=time.perf_counter())
    reader.join(1.0)
    assert not reader.is_alive() and out["block"].data.shape == (512, 1)
    assert time.perf_counter() - out["block"].t_arrival < 0.5


def test_group_frames_leave_room_for_detection_before_the_early_window_closes():
    engine = Engine(RecordingModel(), RATE, EngineConfig())
    latency = engine.detector.latency_samples  # the detector's worst-case delay, 12 ms
    assert group_frames(engine, 128) == int(0.025 * RATE) - latency - 127
    assert group_frames(Engine(RecordingModel(), RATE, EngineConfig(early_ms=100)), 128) == int(
        AUTO_GROUP_MAX_MS * RATE / 1000)
    assert group_frames(Engine(RecordingModel(), RATE, EngineConfig(early_ms=5)), 128) == 0
    assert group_frames(Engine(RecordingModel(), RATE, EngineConfig(detect_rate="16000")), 128) == 0
    assert group_frames(Engine(RecordingModel(), RATE, EngineConfig(group_ms=8)), 128) == 384
    assert group_frames(Engine(RecordingModel(), RATE, EngineConfig(group_ms=0)), 128) == 0
    with pytest.raises(ValueError, match="-3"):
        group_frames(Engine(RecordingModel(), RATE, EngineConfig(group_ms=-3)), 128)


def test_grouped_blocks_give_the_same_estimates_and_the_early_one_leaves_with_its_block():
    audio = stream()
    config = EngineConfig()
    _, single, single_calls = drive(audio, 128, config, False, RecordingModel())
    engine, grouped, calls = drive(audio, 128, config, True, RecordingModel())
    blocks = audio.size // 128
    assert len(single_calls) == blocks + 1 and len(calls) < 0.35 * blocks  # mostly 4 blocks a call
    assert max(len(p) for p in calls) == 4 and sum(len(p) for p in calls) == blocks
    assert [(e.kind, e.hit_id, e.onset_s) for _, e in grouped] == [(e.kind, e.hit_id, e.onset_s) for _, e in single]
    assert np.allclose([e.values for _, e in grouped], [e.values for _, e in single], atol=1e-6)
    assert len([e for _, e in grouped if e.kind == "final"]) == len(TIMES)
    early_len = int(round(config.early_ms * RATE / 1000))
    for (k, e), (_, s) in zip(grouped, single):
        # the latencies count from the block holding the onset, as without grouping
        assert e.t_onset_block == s.t_onset_block
        assert e.t_onset_block == (np.floor(e.onset_s * RATE / 128) + 1) * 128 / RATE
        if e.kind == "early":
            # sent in the call that ends with the block completing the early window (holding its last sample,
            # end - 1): no later than unjoined
            end = int(round(e.onset_s * RATE)) + early_len
            assert calls[k][-1][1] == e.t_ready_block == s.t_ready_block == np.ceil(end / 128) * 128 / RATE
        elif calls[k]:  # (not closed by the end of the stream)
            # complete at the same block: its audio there, or the next hit's onset confirmed there when
            # that hit cut it short; sent no more than a group later
            assert e.t_ready_block == s.t_ready_block
            assert calls[k][-1][1] - e.t_ready_block < 512 / RATE


def test_ready_blocks_do_not_depend_on_the_grouping_even_when_it_delays_the_early_estimate():
    # 8 ms groups with a 2 ms early window: an onset is often confirmed after its early audio is complete,
    # in a later block of the group; the estimate counts from that block, as a call per block finds it
    config = EngineConfig(early_ms=2, group_ms=8)
    _, single, _ = drive(stream(), 128, config, False, RecordingModel())
    _, grouped, calls = drive(stream(), 128, config, True, RecordingModel())
    assert max(len(p) for p in calls) == 3
    assert [(e.kind, e.hit_id) for _, e in grouped] == [(e.kind, e.hit_id) for _, e in single]
    pairs = [(e, s) for (k, e), (_, s) in zip(grouped, single) if calls[k]]
    assert len(pairs) >= 2 * len(TIMES) - 1 and all(e.t_ready_block == s.t_ready_block for e, s in pairs)
    late = [e for (k, e) in grouped if e.kind == "early" and calls[k] and calls[k][-1][1] > e.t_ready_block]
    assert late  # (some early estimates did wait for the end of their group)


def test_file_source_through_the_runner_equals_direct_engine(tmp_path):
    import soundfile as sf

    audio = stream()
    path = tmp_path / "s.wav"
    sf.write(str(path), np.stack([audio, audio], axis=1), RATE, subtype="FLOAT")
    source = FileSource(path, block_size=128)
    got = []
    engine = Engine(RecordingModel(), source.sample_rate, EngineConfig(), [got.append], mix=source.mix)
    joined = []
    process = engine.process_block
    engine.process_block = lambda *a: joined.append(len(a[3])) or process(*a)
    runner = Runner(engine, source).start()
    assert runner.wait(30)
    runner.stop()
    assert runner.error is None
    assert max(joined) == 4 and sum(joined) == engine.stats.blocks == -(-audio.size // 128)  # in groups
    _, direct, _ = run_engine(audio)
    assert [(e.kind, e.hit_id) for e in got] == [(e.kind, e.hit_id) for e in direct]
    assert np.allclose([e.values for e in got], [e.values for e in direct], atol=1e-5)


def test_unreadable_file_source_names_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEnot really")
    with pytest.raises(SourceError, match="bad.wav"):
        FileSource(bad)
    with pytest.raises(SourceError, match="missing.wav"):
        FileSource(tmp_path / "missing.wav")


def test_missing_portaudio_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as without PortAudio
    with pytest.raises(SourceError, match="libportaudio2"):
        import_sounddevice()


def test_overflows_are_counted_when_the_worker_lags(tmp_path):
    import soundfile as sf

    path = tmp_path / "s.wav"
    sf.write(str(path), stream(seconds=2.0), RATE, subtype="FLOAT")

    class SlowModel(RecordingModel):
        def predict(self, batch):
            time.sleep(0.4)  # far slower than real time
            return super().predict(batch)

    source = FileSource(path, block_size=128, realtime=True)  # paced like a device: never waits for the worker
    engine = Engine(SlowModel(), RATE, EngineConfig())
    runner = Runner(engine, source, ring_seconds=0.1).start()
    assert runner.wait(30)
    runner.stop()
    assert runner.error is None
    assert engine.stats.overflows > 0 and engine.stats.dropped_frames >= 128 * engine.stats.overflows
    assert engine.stats.frames + engine.stats.dropped_frames == 2 * RATE


class FlaggedSource:
    """A device-like source whose callback flags PortAudio over/underflows on some blocks."""
    kind = "device"
    sample_rate = RATE
    channels = 1
    block_size = 128

    def __init__(self, audio: np.ndarray, flagged: set[int]):
        self.audio, self.flagged = audio, flagged

    def start(self, ring) -> None:
        for k, i in enumerate(range(0, self.audio.size - 127, 128)):
            ring.write(self.audio[i:i + 128, None], xrun=k in self.flagged)
        ring.close()

    def check(self) -> None:
        pass

    def stop(self) -> None:
        pass


class EndlessSource(FlaggedSource):
    """A device that delivers `audio` and then nothing: its stream never ends by itself (only stop() ends it)."""

    def start(self, ring) -> None:
        self.ring = ring
        for i in range(0, self.audio.size - 127, 128):
            ring.write(self.audio[i:i + 128, None])


def test_stopping_a_device_sends_the_final_estimate_of_every_hit_still_sounding():
    # Ctrl-C 0.3 s after the last hit (1.62 s): its 1 s window is still open; the stop sends its final
    # estimate, its window cut where the audio stopped, exactly as at the end of a file of that audio
    audio = stream(seconds=1.92)
    got = []
    engine = Engine(RecordingModel(), RATE, EngineConfig(), [got.append])
    runner = Runner(engine, EndlessSource(audio, set())).start()
    deadline = time.monotonic() + 30
    while engine.stats.frames < audio.size and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not runner.wait(0.2)  # a device does not end by itself
    assert engine.stats.hits == 5 and [e.hit_id for e in finals(got)] == [0, 1, 2, 3]
    runner.stop()
    assert runner.wait(0) and runner.error is None
    assert [e.hit_id for e in finals(got)] == list(range(5)) and engine.stats.final == 5
    assert [e.hit_id for e in got if e.kind == "early"] == list(range(5))
    _, direct, _ = run_engine(audio)  # the same audio as a file: finish() at its end
    assert [(e.kind, e.hit_id) for e in got] == [(e.kind, e.hit_id) for e in direct]
    assert np.allclose([e.values for e in got], [e.values for e in direct], atol=1e-5)
    assert finals(got)[4].length_s == finals(direct)[4].length_s < 0.31


@pytest.mark.parametrize("group_ms", [None, 10.355])
def test_a_device_gone_quiet_mid_group_still_has_its_last_blocks_run(group_ms):
    # 723 blocks: 180 groups of 4 and 3 blocks; when the device stops delivering, the worker runs those 3 after
    # 0.1 s without audio (it waited for the group's fourth block until the stop)
    audio = stream(seconds=1.93)
    engine = Engine(RecordingModel(), RATE, EngineConfig(group_ms=group_ms))
    runner = Runner(engine, EndlessSource(audio, set())).start()
    deadline = time.monotonic() + 10
    while engine.stats.frames < 723 * 128 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert engine.stats.frames == 723 * 128 and not runner.wait(0)
    finally:
        runner.stop()
    assert runner.error is None


class PacedSource(FlaggedSource):
    """A device delivering `audio` block by block at real-time pace, then nothing."""

    def start(self, ring) -> None:
        import threading

        def run():
            t0 = time.perf_counter()
            for k, i in enumerate(range(0, self.audio.size - 127, 128)):
                time.sleep(max(0.0, t0 + (k + 1) * 128 / RATE - time.perf_counter()))
                ring.write(self.audio[i:i + 128, None])

        threading.Thread(target=run, daemon=True).start()


def test_a_group_longer_than_the_workers_wake_up_is_not_cut_by_it():
    # --group-ms 500 at real-time pace: the worker wakes every 0.1 s to check the source while the group
    # fills; that is no silence (audio keeps coming), so the group runs whole (it ran in 0.1 s pieces)
    engine = Engine(RecordingModel(), RATE, EngineConfig(group_ms=500))
    frames = []
    process = engine.process_block
    engine.process_block = lambda *a: frames.append(len(a[0])) or process(*a)
    runner = Runner(engine, PacedSource(np.zeros(int(1.3 * RATE), dtype=np.float32), set())).start()
    time.sleep(1.45)
    runner.stop()
    assert runner.error is None
    assert frames[:2] == [24064, 24064]  # 500 ms (188 blocks of 128: whole blocks up to the group), twice


def test_stopping_a_fast_file_source_that_waits_for_room_counts_no_overflow(tmp_path):
    # as fast as possible, the file's reader waits for room in the ring (the worker is slow); a stop then is
    # no lost block: overflows stay 0 (they were 1 when the reader, stopped, still wrote into the full ring)
    import soundfile as sf

    path = tmp_path / "s.wav"
    sf.write(str(path), stream(seconds=3.0), RATE, subtype="FLOAT")

    class SlowModel(RecordingModel):
        def predict(self, batch):
            time.sleep(0.05)
            return super().predict(batch)

    for _ in range(3):
        engine = Engine(SlowModel(), RATE, EngineConfig())
        runner = Runner(engine, FileSource(path, block_size=128), ring_seconds=0.05).start()
        time.sleep(0.3)  # the ring is full and the reader waiting
        assert not runner.wait(0)
        runner.stop()
        assert runner.error is None and engine.stats.overflows == 0 and engine.stats.dropped_frames == 0


class HangingStopSource(EndlessSource):
    """A device that goes silent after its audio and whose stop() takes `hang` s (an audio server that died)."""

    def __init__(self, audio: np.ndarray, hang: float):
        super().__init__(audio, set())
        self.hang = hang

    def stop(self) -> None:
        time.sleep(self.hang)


def test_a_device_slow_to_close_is_no_stall_while_stopping():
    # the worker takes 0.3 s without audio for a stall; the device takes 0.6 s to close after Ctrl-C: that
    # silence is the stop, not a failure, and the last hit still gets its final estimate
    audio = stream(seconds=1.92)
    got = []
    engine = Engine(RecordingModel(), RATE, EngineConfig(), [got.append])
    runner = Runner(engine, HangingStopSource(audio, 0.6), stall_s=0.3).start()
    deadline = time.monotonic() + 30
    while engine.stats.frames < audio.size and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    assert runner.error is None
    assert [e.hit_id for e in finals(got)] == list(range(5))


class PacedBigBlocks(FlaggedSource):
    """A device whose blocks (8192 frames, 0.17 s) come at their pace, from a thread, then the stream ends."""
    block_size = 8192

    def start(self, ring) -> None:
        import threading

        def play():
            for i in range(0, self.audio.size - self.block_size + 1, self.block_size):
                time.sleep(self.block_size / RATE)
                ring.write(self.audio[i:i + self.block_size, None])
            ring.close()

        threading.Thread(target=play, daemon=True).start()


def test_a_device_whose_blocks_last_longer_than_the_stall_time_is_no_stall():
    # (as 16384-frame blocks at 8 kHz, 2 s each, against the 2 s stall time): the stall time is at least three
    # blocks long, so such a device runs to its end
    audio = stream(TIMES[:3], SOUNDS[:3], seconds=1.4)
    engine = Engine(RecordingModel(), RATE, EngineConfig())
    runner = Runner(engine, PacedBigBlocks(audio, set()), stall_s=0.05).start()
    assert runner.wait(30) and runner.error is None, runner.error
    assert engine.stats.hits == 3


def test_xruns_are_counted_where_they_happened_and_reach_the_stats():
    audio = stream(TIMES[:3], SOUNDS[:3], seconds=1.2)
    engine = Engine(RecordingModel(), RATE, EngineConfig())
    runner = Runner(engine, FlaggedSource(audio, {3, 100, 101})).start()
    assert runner.wait(30)
    runner.stop()
    assert runner.error is None
    assert engine.stats.xruns == 3 and runner.ring.xruns == 3
    assert list(runner.ring.xrun_frames) == [3 * 128, 100 * 128, 101 * 128]  # the frames written before each
    assert engine.stats.hits == 3  # nothing else lost


def test_each_estimate_carries_its_onset_on_the_wall_clock():
    """`--timetag onset` stamps bundles with onset_wall: the wall-clock arrival of the block holding the onset,
    less the samples after the onset in that block."""
    audio = stream()
    got = []
    engine = Engine(RecordingModel(), RATE, EngineConfig(), [got.append])
    wall0 = 1.7e9  # the stream's first sample on the wall clock (s)
    for i in range(0, audio.size, 128):
        end = min(i + 128, audio.size)
        engine.process_block(audio[i:end], t_arrival=100.0 + end / RATE, wall_arrival=wall0 + end / RATE)
    engine.finish()
    assert len(got) == 2 * len(TIMES)
    for e in got:
        assert e.onset_wall == pytest.approx(wall0 + e.onset_s, abs=1e-6)  # one clock, exactly where the onset is
        assert e.t_onset_block == pytest.approx(100.0 + (e.onset_s * RATE // 128 + 1) * 128 / RATE, abs=1e-6)


def test_stats_count_each_sink_failure_and_each_clipped_sample_and_time_early_and_final_apart(monkeypatch):
    import types

    import realtime.engine as engine_module

    audio = stream()
    audio[:int(0.6 * RATE)] *= 1.2  # the first kick clips (more gain and the step at 0.6 s is a hit)
    audio = np.clip(audio, -1.0, 1.0)
    clipped = int(np.count_nonzero(np.abs(audio) >= 0.999))
    failures = []

    def broken(est):
        failures.append(est)
        raise OSError("sink gone")

    # the engine's clock follows the stream: each block arrives at its end, processing takes no time
    clock = [0.0]
    monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], time=time.time))
    got = []
    engine = Engine(RecordingModel(), RATE, EngineConfig(), [broken, got.append])
    for i in range(0, audio.size, 128):
        clock[0] = min(i + 128, audio.size) / RATE
        engine.process_block(audio[i:i + 128], t_arrival=clock[0])
    engine.finish(t_arrival=clock[0])
    assert len(got) == len(failures) == 2 * len(TIMES)  # the next sink still gets every estimate
    assert engine.stats.callback_errors == len(failures) and isinstance(engine.callback_error, OSError)
    assert clipped > 20 and engine.stats.clipped_samples == clipped  # each sample, not each block
    s = engine.stats.summary()
    early, final = s["early_from_onset_block"], s["final_from_onset_block"]
    assert early["n"] == final["n"] == len(TIMES)
    # the early estimate leaves once pre-roll + 25 ms of the hit are in (a block or two more from the onset's
    # block); the final one when its window is complete: cut at the next hit (120 ms) or the end of the stream
    assert 20 < early["p50_ms"] <= early["max_ms"] < 30
    assert final["max_ms"] == pytest.approx((audio.size / RATE - 2.5) * 1e3, abs=3) and final["p50_ms"] > 100
    assert engine.stats.last_early_ms == pytest.approx(early["max_ms"], abs=3)  # the last hit's, as displayed
    assert engine.stats.last_final_ms == pytest.approx(final["max_ms"], abs=0.01)


def test_a_hit_in_the_last_milliseconds_of_a_file_is_found_at_its_end():
    """A hat 5 ms before the end of the stream still gets both estimates (its final window cut by the end)."""
    audio = stream([0.3, 0.995], [snare, hat], seconds=1.0)  # the hat 5 ms before the end
    engine, got, _ = run_engine(audio)
    fin = finals(got)
    assert np.allclose([e.onset_s for e in fin], [0.3, 0.995], atol=0.004), [e.onset_s for e in fin]


def test_an_early_window_longer_than_the_gap_is_cut_at_the_next_onset():
    """With --early-ms above the gap between two hits, the first hit's early window stops where the second
    hit's window starts, as its final window does: one hit's estimate never hears the next hit."""
    cfg = EngineConfig(early_ms=80.0, dc_block=False)
    engine, got, _ = run_engine(stream([0.5, 0.56], [kick, snare], seconds=1.5), config=cfg)
    early = {e.hit_id: e for e in got if e.kind == "early"}
    fin = {e.hit_id: e for e in finals(got)}
    assert sorted(early) == sorted(fin) == [0, 1]
    gap = fin[1].onset_s - fin[0].onset_s
    assert early[0].length_s == pytest.approx(gap, abs=2e-3) and early[0].length_s == pytest.approx(fin[0].length_s,
                                                                                                     abs=2e-3)
    assert early[1].length_s == pytest.approx(0.003 + 0.080, abs=2e-3)  # pre-roll + early_ms, not cut


def test_estimates_do_not_depend_on_the_block_size_and_a_hit_on_the_first_sample_is_unharmed():
    """The DC estimate follows the input sample by sample from its first sample: any block size gives the same
    windows, and a stream that starts on a hit (a one-shot file) does not take the hit's first block for an
    offset - its estimate stays that of the clip without DC removal, as the model was trained."""
    audio = stream([0.0, 0.5, 1.0], [snare, kick, hat], seconds=2.0)
    runs = {}
    for block in (32, 128, 1000):
        _, got, _ = run_engine(audio, block=block)
        runs[block] = {(e.kind, e.hit_id): e for e in got}
    assert sorted(runs[32]) == sorted(runs[128]) == sorted(runs[1000]) and len(runs[128]) == 6
    for key, est in runs[128].items():
        for block in (32, 1000):
            assert np.allclose(runs[block][key].values, est.values, atol=1e-5), (key, block)
    _, plain, _ = run_engine(audio, config=EngineConfig(dc_block=False))
    first = next(e for e in plain if e.kind == "final" and e.hit_id == 0)
    assert np.max(np.abs(runs[128][("final", 0)].values - first.values)) < 0.01


def test_the_summary_names_channels_that_cancel_and_samples_beyond_full_scale():
    """listen's and analyze's summary (`EngineStats.input_notes`) says why an out-of-phase stereo input found no
    hit, and names a float input at 16-bit integer scale; an ordinary stereo input gets no such note."""
    mono = stream()
    for audio, note in ((np.stack([mono, -mono], axis=1), "the channels cancel when mixed to mono"),
                        (np.stack([mono, 0.7 * mono], axis=1), None),
                        (mono * np.float32(32767 / np.max(np.abs(mono))), "peak 3.28e+04 x full scale")):
        engine, got, _ = run_engine(audio)
        notes = engine.stats.input_notes()
        if note is None:
            assert "cancel" not in notes and "full scale" not in notes and "no sound" not in notes, notes
            assert len(finals(got)) == len(TIMES)
        else:
            assert note in notes, notes


def test_the_summary_says_when_an_input_holds_no_sound():
    """Digital silence, a constant offset, one sample: no hit, and the summary says why instead of a bare "0 hits";
    a hit under a large DC offset, or one soft hit in silence (-70 dBFS), is sound."""
    n = int(2.0 * RATE)
    for audio, says in ((np.zeros(n, np.float32), "(digital silence)"),
                        (np.full(n, 0.5, np.float32), "(a constant 0.5 x full scale)"),
                        (np.full(1, -0.25, np.float32), "(a constant -0.25 x full scale)")):
        engine, got, _ = run_engine(audio)
        assert not got and "no sound in it" in engine.stats.input_notes() and says in engine.stats.input_notes()
    loud = stream()
    soft = np.zeros(n, np.float32)
    soft[RATE // 2: RATE // 2 + 200] = 3e-4 * np.hanning(200)
    for audio in (loud + np.float32(0.5), soft):
        engine, _, _ = run_engine(audio)
        assert "no sound" not in engine.stats.input_notes()


def test_a_stream_that_starts_on_its_attack_keeps_it_and_a_steady_offset_is_removed_from_the_start():
    """Where the DC estimate starts: a one-shot cut at its attack (a tom starting at its crest) is no offset - the
    audio the windows are cut from keeps it, whatever the block size; a stream that starts on a steady offset
    (with a little noise) has it removed from its first sample, so it is no step."""
    t = np.arange(RATE // 2) / RATE
    tom = (0.8 * np.cos(2 * np.pi * 120 * t) * np.exp(-t / 0.15)).astype(np.float32)
    histories = []
    for block in (32, 128, 1000):
        engine = Engine(RecordingModel(), RATE, EngineConfig(), detector=Heard())
        for i in range(0, tom.size, block):
            engine.process_block(tom[i:i + block])
        histories.append(engine.windows.early_history.get(0, tom.size))
    assert np.max(np.abs(histories[0][:480] - tom[:480])) < 0.02  # the first 10 ms as they were
    assert all(np.allclose(h, histories[0], atol=1e-6) for h in histories[1:])
    noise = np.random.default_rng(0).standard_normal(RATE // 2).astype(np.float32)
    offset = np.float32(0.3) + np.float32(0.002) * noise
    engine = Engine(RecordingModel(), RATE, EngineConfig(), detector=Heard())
    for i in range(0, offset.size, 128):
        engine.process_block(offset[i:i + 128])
    cleaned = engine.windows.early_history.get(0, offset.size)
    assert np.max(np.abs(cleaned)) < 0.02


def test_a_stream_shorter_than_the_dc_estimates_start_is_still_heard():
    """The engine gathers the stream's first 10 ms before it starts; a stream that ends sooner (a short one-shot
    file) is run at its end, its hit found."""
    shot = kick(RATE, seed=0)[: int(0.008 * RATE)]
    engine, got, _ = run_engine(np.concatenate([np.zeros(48, np.float32), shot]), block=64)
    assert engine.stats.frames == 48 + shot.size
    assert [e.kind for e in got] == ["early", "final"]
