"""The onset detector's candidate classifier (realtime.onset_trees): what it adds, its files, its fitting."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from realtime.config import onset_params
from realtime.loops import render_loop
from realtime.onset_match import match
from realtime.onset_trees import ACCEPT_ALL, ENV_VAR, FEATURES, TREES_PATH, load_forest
from realtime.onsets import OnsetDetector, OnsetParams
from tests.signals import hat, kick

RATE = 48000
ROOT = Path(__file__).resolve().parents[1]


def run(x: np.ndarray, params: OnsetParams = OnsetParams(), block: int = 128, forest=None,
        candidates: list | None = None, rate: int = RATE):
    """The onsets of `x`, fed in blocks; `candidates`: a list to collect the detector's candidates in."""
    det = OnsetDetector(rate, params, forest=forest)
    det.candidates = candidates
    out = [o for i in range(0, x.size, block) for o in det.process(x[i:i + block])]
    return out + det.flush()


def fixed_and_under(loop) -> tuple[set, list]:
    """The detector's candidates on `loop` (every one accepted): the indices of the true onsets that those above the
    fixed thresholds match (+-25 ms), and those under them as (time s, features) pairs."""
    found: list = []
    run(loop.audio, forest=ACCEPT_ALL, candidates=found)
    fixed_t = np.array([s / RATE for s, _, fixed in found if fixed])
    taken = {r for r, _ in match(fixed_t, loop.onsets, 0.025)}
    return taken, [(s / RATE, f) for s, f, fixed in found if not fixed]


def fit_script():
    spec = importlib.util.spec_from_file_location("fit_onset_trees", ROOT / "scripts" / "fit_onset_trees.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_trees_add_true_onsets_and_keep_every_onset_of_the_fixed_thresholds():
    # ghost notes (20-30 dB under the backbeat) are where the fixed thresholds miss most; the trees rescue some
    # of their peaks and take nothing away
    gained = 0
    for style, bpm, seed in (("ghosts", 170, 0), ("ghosts", 110, 1), ("dense_hats", 140, 2)):
        loop = render_loop(style, bpm, 6.0, RATE, seed=seed, kit="synth")
        fixed = np.array([o.time for o in run(loop.audio, OnsetParams(trees=False))])
        both = np.array([o.time for o in run(loop.audio)])
        assert len(match(fixed, both, 0.0001)) == fixed.size, "an onset of the fixed thresholds was lost"
        extra = np.setdiff1d(both, fixed)
        gained += len(match(extra, loop.onsets, 0.025)) - (extra.size - len(match(extra, loop.onsets, 0.025)))
    assert gained >= 3  # true onsets added, net of false ones


def test_a_candidate_threshold_above_the_fixed_one_loses_no_onset():
    loop = render_loop("ghosts", 170, 6.0, RATE, seed=0, kit="synth")
    fixed = {o.sample for o in run(loop.audio, OnsetParams(trees=False))}
    assert fixed <= {o.sample for o in run(loop.audio, OnsetParams(candidate_offset=0.5))}


@pytest.mark.parametrize("rate", [44100, 48000])
def test_a_kick_cut_dead_under_a_ringing_hat_is_not_rescued(rate):
    # the kick's 0.6 s file ends at -43 dB, 100 ms into the hat: the cut splatters into the low and middle bands
    # (a peak just under the fixed thresholds that the trees alone took for a soft kick), but adds no energy
    x = np.zeros(2 * rate, np.float32)
    for at, sound in ((0.25, kick(rate)), (0.75, hat(rate, seed=1))):
        i = int(at * rate)
        x[i:i + sound.size] += sound
    assert [round(o.time, 2) for o in run(x, rate=rate)] == [0.25, 0.75]


@pytest.mark.parametrize("rate,params", [(48000, OnsetParams()), (44100, OnsetParams()), (16000, OnsetParams()),
                                         (48000, OnsetParams(median_window_s=0.02)),
                                         (48000, OnsetParams(hop_s=0.004, window_s=0.02))])
def test_candidate_features_do_not_depend_on_block_size(rate, params):
    loop = render_loop("dense_hats", 140, 4.0, rate, seed=2, kit="synth")
    ref: list = []
    run(loop.audio, params, block=256, candidates=ref, rate=rate)
    assert len(ref) > 0.5 * loop.onsets.size  # enough for the comparison to mean something
    assert sum(not fixed for _, _, fixed in ref) > 0  # peaks under the fixed thresholds are candidates too
    for block in (64, 1000, loop.audio.size):  # the last: the whole loop in one block
        got: list = []
        run(loop.audio, params, block=block, candidates=got, rate=rate)
        assert [s for s, _, _ in got] == [s for s, _, _ in ref]
        np.testing.assert_allclose(np.array([f for _, f, _ in got]), np.array([f for _, f, _ in ref]),
                                   rtol=1e-4, atol=1e-4)


def test_context_features_count_the_candidates_of_the_last_half_second():
    # fixed_500 / since_fixed_ms: the candidates above the fixed thresholds in the 0.5 s before the attack, and the
    # time since the last of them (1000 when there was none in that time); under_500 counts those under them
    # (every one, even those the energy check drops, so at least the rows recorded)
    loop = render_loop("dense_hats", 140, 12.0, RATE, seed=1, kit="synth")
    found: list = []
    run(loop.audio, forest=ACCEPT_ALL, candidates=found)
    at = np.array([s for s, _, _ in found])
    fixed = np.array([f for _, _, f in found])
    i_fixed, i_under, i_since = (FEATURES.index(n) for n in ("fixed_500", "under_500", "since_fixed_ms"))
    assert fixed.sum() > 20 and (~fixed).sum() > 5
    for j, (s, x, _) in enumerate(found):
        recent = at[:j] >= s - RATE // 2
        assert x[i_fixed] == np.count_nonzero(recent & fixed[:j])
        assert x[i_under] >= np.count_nonzero(recent & ~fixed[:j])
        last = at[:j][recent & fixed[:j]]
        since = (s - last[-1]) / RATE * 1000 if last.size else 1000.0
        assert x[i_since] == pytest.approx(since, abs=1e-3)
    assert max(x[i_fixed] for _, x, _ in found) >= 5  # 32nd-note hats: several a half second
    # the features depend on the candidates only, not on which ones the trees took: the shipped trees, which turn
    # many down, see the same rows as the accept-all classifier the fit collects them with
    shipped: list = []
    run(loop.audio, candidates=shipped)
    assert [s for s, _, _ in shipped] == [s for s, _, _ in found]
    np.testing.assert_array_equal(np.array([f for _, f, _ in shipped]), np.array([f for _, f, _ in found]))
    # the context is trimmed as it comes: at most the candidates of half a second (a peak needs 6 frames before it
    # lower, so at most one per 8 ms), though the loop has far more than that
    det = OnsetDetector(RATE)
    for i in range(0, loop.audio.size, 128):
        det.process(loop.audio[i:i + 128])
        assert len(det._under_at) + len(det._fixed_at) <= 0.5 / (7 * det.params.hop_s) + 1
    assert len(found) > 3 * (0.5 / (7 * det.params.hop_s) + 1)


def test_loud_hits_for_a_long_time_keep_only_the_last_half_second_of_candidates():
    # every hit above the fixed thresholds: no feature row is asked for, and still the context is trimmed as it
    # comes (an hour of playing must not grow the detector)
    x = np.zeros(30 * RATE, dtype=np.float32)
    k = kick(RATE)
    for at in range(RATE // 10, x.size - k.size, RATE // 8):  # 8 hits a second
        x[at:at + k.size] += k
    det = OnsetDetector(RATE)
    found = sum(len(det.process(x[i:i + 128])) for i in range(0, x.size, 128))
    assert found >= 0.95 * 8 * 30
    assert 1 <= len(det._fixed_at) <= 5  # the last 0.5 s: 4 hits


def test_the_fit_renders_more_dense_hats_at_their_own_tempos():
    fit = fit_script()
    kits = [("g1", "kit1"), ("g2", "kit2")]
    jobs = fit.make_jobs(kits, 4, 8, True, OnsetParams())
    dense = [j for j in jobs if j[2] == "dense_hats"]
    assert len(dense) == 2 * 12 * len(fit.GAINS_DB)  # 4 seeds + 8 more, per kit and level
    assert len({j[3] for j in dense}) == 12 and max(j[3] for j in dense) >= 200  # a tempo each, up to 220 bpm
    assert {j[6] for j in dense} == set(fit.RATES)  # odd seeds at 44.1 kHz
    others = [j for j in jobs if j[2] not in ("dense_hats", "alone")]
    assert len(others) == 2 * 6 * 4 * len(fit.GAINS_DB)  # every other style and the ride grooves at 4 seeds
    assert len(fit.make_jobs(kits, 4, 0, False, OnsetParams())) == 2 * 7 * 4 * len(fit.GAINS_DB)


def test_the_fit_sees_white_noise_with_no_hit_in_it():
    fit = fit_script()
    kits = [("g1", "kit1"), ("synthetic", "synth")]
    noise = [j for j in fit.make_jobs(kits, 1, 0, False, OnsetParams(), noise_seeds=2) if j[2] == "noise"]
    assert len(noise) == 2 * len(fit.NOISE_DB) and {j[0] for j in noise} == {"synthetic"}  # in the synthetic group
    assert not [j for j in fit.make_jobs(kits[:1], 1, 0, False, OnsetParams(), noise_seeds=2) if j[2] == "noise"]
    loud = noise[0]
    audio, rate, truth = fit.render(loud)
    assert truth.size == 0 and np.max(np.abs(audio)) == pytest.approx(0.9, rel=1e-4) and audio.size == 6 * rate
    assert not np.array_equal(audio, fit.render(noise[len(fit.NOISE_DB)])[0])  # each seed its own noise
    group, x, hits = fit.candidates(loud)
    assert group == "synthetic" and x.shape[0] > 0 and not hits.any()  # its flicker: candidates, none a hit


def test_without_a_frame_after_the_peak_the_trees_are_off():
    # post_frames = 0 decides on a peak before the hop after it has arrived; the trees' energy check needs that
    # hop, so they stay off, and the onsets do not depend on the block size
    loop = render_loop("ghosts", 170, 4.0, RATE, seed=0, kit="synth")
    params = OnsetParams(post_frames=0)
    assert OnsetDetector(RATE, params).forest is None
    ref = [o.sample for o in run(loop.audio, params, block=64)]
    assert ref == [o.sample for o in run(loop.audio, params, block=loop.audio.size)]
    assert ref == [o.sample for o in run(loop.audio, OnsetParams(post_frames=0, trees=False), block=64)]


def test_the_shipped_trees_name_this_detectors_features():
    doc = json.loads(TREES_PATH.read_text())
    assert tuple(doc["features"]) == FEATURES
    forest = load_forest(TREES_PATH)
    assert forest.outputs == 1 and forest.features <= len(FEATURES)


def test_trees_named_by_the_environment_are_used(tmp_path, monkeypatch):
    from realtime.onset_trees import forest_to_json

    accept_all = tmp_path / "accept_all.json"
    forest_to_json(ACCEPT_ALL, accept_all)
    loop = render_loop("ghosts", 170, 6.0, RATE, seed=0, kit="synth")
    shipped = len(run(loop.audio))
    monkeypatch.setenv(ENV_VAR, str(accept_all))
    assert len(run(loop.audio)) > shipped  # every candidate taken


@pytest.mark.parametrize("text,says", [('{"features": ["v"', "not an onset classifier file"),
                                       ('{"features": ["v"], "depth": 0, "feature": [0], "threshold": [0], '
                                        '"children": [[0, 0]], "value": [0], "roots": [[0]], "base": [0]}',
                                        "refit it with scripts/fit_onset_trees.py")])
def test_a_bad_trees_file_is_named(tmp_path, monkeypatch, text, says):
    bad = tmp_path / "trees.json"
    bad.write_text(text)
    monkeypatch.setenv(ENV_VAR, str(bad))
    with pytest.raises(ValueError) as e:
        OnsetDetector(RATE)
    assert str(bad) in str(e.value) and says in str(e.value)
    OnsetDetector(RATE, OnsetParams(trees=False))  # the fixed thresholds need no file
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="missing.json.*named by DRUMTIMBRE_ONSET_TREES"):
        OnsetDetector(RATE)


def test_the_trees_switch_in_a_config_file():
    assert onset_params({"trees": False}) == OnsetParams(trees=False)
    assert onset_params({"accept_prob": 0.9}).accept_prob == 0.9
    with pytest.raises(ValueError, match="trees = 1: expected true or false"):
        onset_params({"trees": 1})
    with pytest.raises(ValueError, match="accept_prob"):
        OnsetParams(accept_prob=1.5)


def test_the_fit_script_labels_candidates_under_the_fixed_thresholds():
    fit = fit_script()
    job = ("synthetic", "synth", "ghosts", 170, 0, 0.0, RATE, OnsetParams())
    group, x, hits = fit.candidates(job, found_s=0.0)  # every candidate (without --found-ms)
    assert group == "synthetic" and x.shape == (hits.size, len(FEATURES)) and np.isfinite(x).all()
    assert 0 < hits.sum() < hits.size  # some rescue a missed hit, most do not
    _, _, one_to_one = fit.candidates(job, near_s=0.0, found_s=0.0)  # without --near-ms: one per missed onset
    assert np.all(hits[one_to_one]) and one_to_one.sum() <= hits.sum()
    # a hit is a candidate under the fixed thresholds, adding energy, within 25 ms of a true onset that the
    # fixed thresholds' peaks miss; the others are not
    loop = render_loop("ghosts", 170, 6.0, RATE, seed=0, kit="synth")
    taken, under = fixed_and_under(loop)
    missed = np.array([t for r, t in enumerate(loop.onsets) if r not in taken])
    np.testing.assert_array_equal(np.array([f for _, f in under]), x)
    dist = np.array([np.min(np.abs(missed - t)) if missed.size else np.inf for t, _ in under])  # s
    near = dist <= 0.025
    assert np.all(near[hits]) and near[~hits].sum() <= 1  # at most a second candidate for one missed onset
    assert np.all(hits[dist <= fit.NEAR_S])  # every one within 10 ms of a missed onset, a second peak of it too
    # every one-shot of a kit alone, in turn: one true onset at each attack, and the decays between
    audio, rate, truth = fit.render(("synthetic", "synth", "alone", 0, 0, -20.0, 44100, OnsetParams()))
    shots = sum(len(pool) for pool in fit.load_kit("synth", 44100).values())
    assert rate == 44100 and truth.size == shots and np.all(np.diff(truth) > 0.1)
    assert np.max(np.abs(audio)) == pytest.approx(0.09, rel=1e-3)
    found = np.array([o.time for o in run(audio, OnsetParams(trees=False), rate=rate)])
    assert len(match(found, truth, 0.025)) >= 0.9 * truth.size
    # the job's detector settings (--params) are the ones the candidates come from: with the fixed threshold out of
    # reach, every peak the fixed thresholds took is a candidate under them too, and every true onset found is a hit
    high = job[:-1] + (OnsetParams(threshold_offset=100.0),)
    _, x_all, hits_all = fit.candidates(high)
    assert x_all.shape[0] > x.shape[0] and hits_all.sum() > 3 * hits.sum()
    # ... and the ones the leave-one-group-out estimate scores with (fixed thresholds: none reach 100)
    assert fit.scored((job, None))[2] > 0 and fit.scored((high, None))[2] == 0


def test_the_fit_leaves_out_peaks_of_hits_the_fixed_thresholds_found():
    """--found-ms (default 10): a candidate under the fixed thresholds that is no hit but lies within 10 ms of a true
    onset they found is left out of the fit (the same hit, taken or not); every other candidate stays, labelled as
    without the option."""
    fit = fit_script()
    job = ("synthetic", "synth", "flams", 170, 0, 0.0, RATE, OnsetParams())
    _, x_all, hits_all = fit.candidates(job, found_s=0.0)
    _, x_fit, hits_fit = fit.candidates(job)
    loop = render_loop("flams", 170, 6.0, RATE, seed=0, kit="synth")
    taken, under = fixed_and_under(loop)
    found_t = loop.onsets[sorted(taken)]
    under_t = np.array([t for t, _ in under])
    to_found = np.min(np.abs(under_t[:, None] - found_t[None, :]), axis=1)  # s
    keep = hits_all | (to_found > fit.FOUND_S)
    assert fit.FOUND_S == 0.010 and 0 < np.count_nonzero(~keep) < np.count_nonzero(~hits_all)
    np.testing.assert_array_equal(x_fit, x_all[keep])
    np.testing.assert_array_equal(hits_fit, hits_all[keep])
