"""The worker's hold on quiet input: the rise gate on generated drums, and the engine's estimates with it."""
from __future__ import annotations

import numpy as np
import pytest

from realtime.engine import Engine, EngineConfig, quiet_hold
from realtime.quiet_hold import HOLD_EVERY_BLOCK_MS, HOLD_MS, RiseGate
from tests.signals import hat, kick, snare
from tests.test_engine import TIMES, RecordingModel, stream
from tests.worker_loop import drive

RATE = 48000


def rises(gate: RiseGate, x: np.ndarray, block: int) -> list[int]:
    """The first and last rising chunk of each block of `x` that rises (sample indices)."""
    found = [gate.rise_at(x[i:i + block]) for i in range(0, x.size, block)]
    return sorted({r for pair in found if pair is not None for r in pair})


@pytest.mark.parametrize("make, gain", [(kick, 1.0), (snare, 1.0), (hat, 1.0), (snare, 0.03), (hat, 0.03)])
def test_the_gate_finds_a_hit_where_it_starts_and_rarely_anything_in_its_decay(make, gain):
    at = 24_000 + 37
    x = np.zeros(2 * RATE, dtype=np.float32)
    s = make(RATE, seed=1) * gain
    x[at:at + s.size] = s
    gate = RiseGate(RATE)
    found = rises(gate, x, 128)
    assert found and found[0] <= at < found[0] + gate.chunk  # the chunk holding the attack's first sample
    # in its decay (after its first 5 ms, until it stops), a block rarely rises (noise does fluctuate): the hold
    # runs the engine little more than on silence
    tail = [r for r in found if at + 0.005 * RATE < r < at + s.size - 0.01 * RATE]
    assert len(tail) <= 0.02 * (s.size / 128), [(r - at) / RATE for r in found]


def test_the_gate_does_not_depend_on_how_the_audio_is_cut():
    x = stream()
    cuts = {}
    for block in (37, 128, 1000):
        gate = RiseGate(RATE)
        # the first and last rising chunk of each call: compare the calls' union as chunk indices
        cuts[block] = {r // gate.chunk for r in rises(gate, x, block)}
    hits = {int(round(t * RATE)) // RiseGate(RATE).chunk for t in TIMES}
    for block, found in cuts.items():
        assert hits <= {c for c in found} | {c - 1 for c in found}, block  # each hit in its chunk or the next


def test_quiet_noise_under_the_floor_never_rises_even_on_an_offset_and_nan_does():
    rng = np.random.default_rng(0)
    gate = RiseGate(RATE)
    quiet = (rng.standard_normal(RATE) * 10 ** (-85 / 20)).astype(np.float32)
    assert rises(gate, quiet, 128) == []
    assert rises(RiseGate(RATE), quiet + np.float32(0.01), 128) == []  # the floor is on the chunk less its mean
    bad = quiet[:512].copy()
    bad[300] = np.nan
    assert gate.rise_at(bad) == (RATE + 256, RATE + 256)  # the chunk holding the NaN (chunks of 64 samples)
    assert rises(gate, quiet, 128) == []  # then afresh: the same quiet noise raises nothing
    with pytest.raises(ValueError, match="rise_db"):
        RiseGate(RATE, rise_db=float("nan"))


def waits(got, calls, kind: str) -> np.ndarray:
    """For each estimate of `kind` not sent at the end of the stream: how long after the arrival of the block that
    completed its window the call that sent it began (s)."""
    return np.array([calls[k][-1][1] - e.t_ready_block for k, e in got if e.kind == kind and calls[k]])


@pytest.mark.parametrize("early_ms, fewer", [(25.0, 0.6), (17.0, 0.8), (16.0, 0.8), (5.0, 0.6)])
def test_holding_quiet_input_gives_the_same_estimates_in_fewer_calls_and_sends_none_later(early_ms, fewer):
    # 17 and 16 ms: groups of 2 and 1 blocks, and an early window too short to wait for a rise's confirmation
    # in one run (a hat over a kick's tail, found 5.6 ms before its attack, was late by 2.7 ms)
    config = EngineConfig(early_ms=early_ms)
    audio = stream()
    _, plain, plain_calls = drive(audio, 128, config, True, RecordingModel())
    engine, held, calls = drive(audio, 128, config, True, RecordingModel(), hold=True)
    assert engine.stats.calls == len(calls) - 1  # (the last entry is finish)
    assert [(e.kind, e.hit_id, e.onset_s) for _, e in held] == [(e.kind, e.hit_id, e.onset_s) for _, e in plain]
    assert np.allclose([e.values for _, e in held], [e.values for _, e in plain], atol=1e-4)
    assert len([e for _, e in held if e.kind == "final"]) == len(TIMES)
    assert len(calls) < fewer * len(plain_calls)  # quiet stretches run in fewer, longer calls
    assert sum(len(p) for p in calls) == sum(len(p) for p in plain_calls) == audio.size // 128
    assert max(len(p) for p in calls) == int(HOLD_MS if early_ms > 5 else HOLD_EVERY_BLOCK_MS) * RATE // 1000 // 128
    # every early estimate leaves with the call that ends at its ready block, as without holding; a final one cut
    # short by the next hit waits at most for that hit's confirmation run (its rise + the detector's worst case)
    assert np.all(waits(held, calls, "early") <= waits(plain, plain_calls, "early") + 1e-9)
    hold = quiet_hold(Engine(RecordingModel(), RATE, config), 1)
    assert np.all(waits(held, calls, "final") <= (hold.confirm_frames + 128) / RATE)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_sample_just_before_a_hit_does_not_hide_its_rise(bad):
    # a NaN / inf 10 ms before a kick, in the same read: the gate reports the bad sample's chunk and the kick's
    # (before, only the first: the engine ran before the kick was confirmed, then held it; 8 ms late)
    audio = stream(times=[0.25, 0.5196], sounds=[snare, kick], seconds=1.5)
    audio[int(0.5196 * RATE) - 488] = bad
    config = EngineConfig()
    _, plain, plain_calls = drive(audio, 128, config, True, RecordingModel())
    _, held, calls = drive(audio, 128, config, True, RecordingModel(), hold=True)
    assert [(e.kind, e.hit_id) for _, e in held] == [(e.kind, e.hit_id) for _, e in plain] and len(held) == 4
    assert np.all(waits(held, calls, "early") <= waits(plain, plain_calls, "early") + 1e-9)


def test_held_audio_never_exceeds_the_hold_whatever_the_block_size():
    for block in (100, 1000):
        engine, _, calls = drive(stream(), block, EngineConfig(), True, RecordingModel(), hold=True)
        hold = quiet_hold(engine, 1)
        assert max(sum(n for n, _ in p) for p in calls) < hold.hold_frames + block, block


def test_a_hit_the_gate_misses_waits_at_most_the_hold(monkeypatch):
    monkeypatch.setattr(RiseGate, "rise_at", lambda self, x: None)  # a gate that never sees a hit
    config = EngineConfig()
    _, plain, _ = drive(stream(), 128, config, True, RecordingModel())
    _, held, calls = drive(stream(), 128, config, True, RecordingModel(), hold=True)
    assert [(e.kind, e.hit_id) for _, e in held] == [(e.kind, e.hit_id) for _, e in plain]  # nothing lost
    late = waits(held, calls, "early")
    assert late.max() > 0.005 and late.max() <= HOLD_MS / 1000 + 128 / RATE


def test_the_hold_is_automatic_only():
    def hold(**kw):
        engine = Engine(RecordingModel(), RATE, EngineConfig(**kw))
        from realtime.engine import group_frames

        return quiet_hold(engine, group_frames(engine, 128))

    assert hold().gate is not None and hold().hold_frames == int(HOLD_MS * RATE / 1000)
    assert not hold().every_read and hold(early_ms=17).every_read  # too short to wait for a rise's confirmation
    assert hold(early_ms=5).every_read and hold(early_ms=5).hold_frames == int(HOLD_EVERY_BLOCK_MS * RATE / 1000)
    assert hold(group_ms=8).gate is None and hold(group_ms=8).hold_frames == 0  # a group asked for: none
    assert hold(detect_rate="16000").gate is None
    engine = Engine(RecordingModel(), RATE, EngineConfig())
    assert quiet_hold(engine, 497, whole=True).gate is None  # a file read as fast as possible
