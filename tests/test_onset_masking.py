"""bench/onset_masking.py: each true onset's margin over the sound already playing, on loops built from known hits."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from onset_eval import Case  # noqa: E402
from onset_masking import f_above, margins  # noqa: E402

from realtime.loops import Hit, add_shot, load_kit, merge_close  # noqa: E402

RATE = 48000


def _case(plan: list[tuple[float, str, int, float]]) -> Case:
    """A loop of the synthetic kit: (time s, role, index in its pool, gain dB re peak) per hit, scaled to a peak
    of 0.9 as realtime.loops renders them."""
    kit = load_kit("synth", RATE)
    audio = np.zeros(int(3.0 * RATE))
    hits = []
    for t, role, i, gain in plan:
        shot = kit[role][i]
        add_shot(audio, shot, int(round(t * RATE)), gain)
        hits.append(Hit(round(t * RATE) / RATE, shot.file, gain, role))
    audio = (audio * 0.9 / np.max(np.abs(audio))).astype(np.float32)
    return Case("synth/test/120/0", audio, RATE, merge_close(np.array([h.time for h in hits])), hits)


def test_a_hit_out_of_silence_stands_far_above_and_a_soft_one_under_a_ringing_cymbal_does_not():
    case = _case([(0.2, "snare", 0, 0.0), (0.6, "cymbal", 0, 0.0), (0.7, "hat", 0, -40.0), (2.5, "hat", 0, -40.0)])
    m = margins(case, "synth", 0.02)
    assert m.size == 4
    assert m[0] > 40 and m[3] > 40  # nothing else sounds (the cymbal's 1.5 s have ended)
    assert m[2] < 0  # 40 dB under a cymbal that has decayed for 0.1 s (time constant 0.6 s), in every band
    # the same soft hat with no cymbal stands clear again: the measure is about the rest, not the level
    assert m[3] - m[2] > 30


def test_hits_merged_into_one_onset_count_together_and_the_floor_drops_matched_detections():
    case = _case([(0.2, "kick", 0, 0.0), (0.21, "hat", 0, -6.0), (0.8, "snare", 0, 0.0), (0.9, "cymbal", 0, 0.0),
                  (1.0, "hat", 0, -45.0)])
    assert case.truth.size == 4  # kick + hat 10 ms apart: one onset
    m = margins(case, "synth", 0.02)
    assert m[0] > 40 and m[3] < 0
    found = [np.array([0.2005, 0.8, 0.9, 1.0, 1.4])]  # every onset found, and one false
    pairs = [[(0, 0), (1, 1), (2, 2), (3, 3)]]
    assert f_above([case], found, pairs, [m], -np.inf) == pytest.approx(2 * 0.8 * 1.0 / 1.8)
    # the masked onset and its detection out: 3 of 3 found, 3 of 4 detections true
    assert f_above([case], found, pairs, [m], 0.0) == pytest.approx(2 * 0.75 * 1.0 / 1.75)


def test_a_loop_that_does_not_add_up_is_refused():
    case = _case([(0.2, "snare", 0, 0.0), (0.6, "hat", 0, -10.0)])
    case.audio[int(0.4 * RATE)] += 0.5  # a click no hit explains
    with pytest.raises(RuntimeError, match="differs"):
        margins(case, "synth", 0.02)
