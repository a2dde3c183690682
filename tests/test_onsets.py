"""The streaming drum onset detector on generated loops with known onsets, and `drumtimbre onsets`."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from drumtimbre.cli import main
from realtime.loops import available_kits, render_loop
from realtime.onsets import Onset, OnsetDetector, OnsetParams, detect
from tests.signals import hat, kick, snare, swelling_snare

RATE = 48000


def f_measure(est: np.ndarray, ref: np.ndarray, tol: float = 0.025) -> float:
    """F of a greedy one-to-one matching, closest pairs first."""
    if est.size == 0 or ref.size == 0:
        return 0.0
    d = np.abs(ref[:, None] - est[None, :])
    ri, ei = np.nonzero(d <= tol)
    used_r, used_e = set(), set()
    for k in np.argsort(d[ri, ei], kind="stable"):
        if ri[k] not in used_r and ei[k] not in used_e:
            used_r.add(ri[k])
            used_e.add(ei[k])
    return 2 * len(used_r) / (est.size + ref.size)


def feed(det: OnsetDetector, x: np.ndarray, sizes) -> list[Onset]:
    out, i = [], 0
    for n in sizes:
        if i >= x.size:
            break
        out += det.process(x[i:i + n])
        i += n
    return out + det.flush()


def place(times, sounds, seconds: float, rate: int = RATE) -> np.ndarray:
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    for k, (t, make) in enumerate(zip(times, sounds)):
        s = make(rate, seed=k)
        i = int(round(t * rate))
        out[i:i + s.size] += s[:out.size - i]
    return out


@pytest.mark.parametrize("style,bpm", [("groove16", 120), ("kick_hat", 100)])
def test_f_measure_on_synth_loops(style, bpm):
    loop = render_loop(style, bpm, 6.0, RATE, seed=0, kit="synth")
    assert f_measure(detect(loop.audio, RATE), loop.onsets) >= 0.95


def test_f_measure_on_a_real_kit_loop():
    kits = [k for k in available_kits() if k.name == "GMRockKit"]
    if not kits:
        pytest.skip("Debian kit GMRockKit not installed (apt install hydrogen-drumkits)")
    loop = render_loop("groove16", 110, 6.0, RATE, seed=0, kit=kits[0])
    assert f_measure(detect(loop.audio, RATE), loop.onsets) >= 0.95


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_isolated_hits_are_found_at_their_attack(rate):
    times = [0.3, 0.9, 1.4, 2.0, 2.6]
    x = place(times, [kick, hat, snare, hat, kick], 3.2, rate)
    found = detect(x, rate, block_size=128)
    assert found.size == len(times), found
    assert np.max(np.abs(found - times)) < 0.003, found - times


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_a_hit_that_starts_the_stream_is_found_wherever_in_the_first_hop_it_begins(rate):
    # A file may begin with a hit a few samples in.  Its attack then spans the stream's first two frames, and
    # the second (the peak) was measured against a moving median of the first alone - the hit itself - so for
    # some offsets (28-36 samples at 48 kHz for these sounds) the first hit was lost; and backtracking, which
    # stopped at sample 0, found the attack up to 1.3 ms late.  Before the stream there was silence: the hit
    # is found, at the time it has after silence of the same frame alignment.
    hop = OnsetDetector(rate).hop
    lead = 100 * hop
    for make in (kick, snare, hat):
        sound = make(rate, seconds=0.2)
        for offset in range(hop + 1):
            x = np.zeros(offset + sound.size + rate // 20, np.float32)
            x[offset:offset + sound.size] = sound
            found = detect(x, rate, block_size=128)
            assert found.size and abs(found[0] - offset / rate) < 0.003, (make.__name__, offset, found)
            after_silence = detect(np.concatenate([np.zeros(lead, np.float32), x]), rate, block_size=128)
            assert abs(found[0] - (after_silence[0] - lead / rate)) < 0.0002, (make.__name__, offset)


def test_results_do_not_depend_on_block_size():
    loop = render_loop("mixed", 140, 5.0, RATE, seed=4, kit="synth")
    x = loop.audio
    ref = [o.sample for o in feed(OnsetDetector(RATE), x, [256] * (x.size // 256 + 1))]
    # enough onsets for the comparison to mean something: most of the loop's 24 true ones.  (This was
    # `> 20` while the synth one-shots ended with an unfaded cut: those clicks were extra onsets in the
    # count; realtime.loops now fades them out like real one-shots.)
    assert len(ref) >= 0.8 * loop.onsets.size
    rng = np.random.default_rng(0)
    for sizes in ([64] * (x.size // 64 + 1), [128] * (x.size // 128 + 1), [1000] * (x.size // 1000 + 1),
                  list(rng.integers(0, 700, size=x.size // 100))):
        got = [o.sample for o in feed(OnsetDetector(RATE), x, sizes)]
        assert len(got) == len(ref) and np.max(np.abs(np.subtract(got, ref))) <= 1
    # each onset is confirmed at the same sample, however the stream is cut (the engine's ready blocks use it)
    confirmed = [o.confirmed for o in feed(OnsetDetector(RATE), x, [256] * (x.size // 256 + 1))]
    assert [o.confirmed for o in feed(OnsetDetector(RATE), x, sizes)] == confirmed


def test_each_onset_reported_once_within_the_latency():
    x = place([0.2, 0.5, 0.8, 1.1], [kick, snare, hat, kick], 1.8)  # every sound has ended before the stream
    det = OnsetDetector(RATE)
    seen, end = [], 0
    for i in range(0, x.size, 128):
        for o in det.process(x[i:i + 128]):
            end = i + min(128, x.size - i)
            assert end - o.sample <= det.latency_samples
            assert o.time == pytest.approx(o.sample / RATE) and o.strength > det.params.threshold_offset
            assert i < o.confirmed <= end  # reported with the block holding its confirming sample
            seen.append(o.sample)
    seen += [o.sample for o in det.flush()]
    assert len(seen) == 4 and len(set(seen)) == 4 and seen == sorted(seen)
    assert det.latency_samples <= 0.012 * RATE  # reported at most ~12 ms after the attack
    assert det.process(np.zeros(0, np.float32)) == [] and det.flush() == []


def test_silence_dc_and_faint_noise_never_trigger():
    n = 5 * RATE
    rng = np.random.default_rng(1)
    for x in (np.zeros(n, np.float32), np.full(n, 0.5, np.float32),
              (0.3 + rng.standard_normal(n) * 10 ** (-75 / 20)).astype(np.float32)):
        assert detect(x, RATE).size == 0
    # a DC step is not a drum hit either
    step = np.concatenate([np.zeros(RATE), np.full(2 * RATE, 0.4)]).astype(np.float32)
    assert detect(step, RATE).size <= 1


def test_nan_and_inf_are_silence_and_detection_goes_on():
    times = [0.3, 1.2, 1.9]
    x = place(times, [kick, snare, hat], 2.4)
    x[int(0.95 * RATE):int(1.05 * RATE)] = np.nan  # after the kick has ended (0.6 s long)
    x[int(1.75 * RATE)] = np.inf  # after the snare (0.5 s long)
    x[int(1.76 * RATE)] = -np.inf
    found = detect(x, RATE)
    assert found.size == len(times) and f_measure(found, np.array(times), 0.005) == 1.0


def test_stray_nan_samples_lose_no_hit_and_make_none():
    """A bad sample just before each hit, a few within each attack, and one every 500 samples all through (a
    glitching plug-in): each run is bridged from the sample before it to the one after, so no hit is lost (they
    used to blank the frames around them, and every hit with them) and none is invented, at any block size;
    scattered all through a white-noise hat's decay, where no straight line is near the signal, one may be."""
    times = [0.3, 0.75, 1.2, 1.65, 2.1]
    clean = place(times, [kick, snare, hat, snare, kick], 2.6)
    before = clean.copy()
    for t in times:
        before[int((t - 0.004) * RATE)] = np.nan
        before[int((t + 0.002) * RATE)] = np.inf
    scattered = clean.copy()
    scattered[::1000] = np.nan
    scattered[500::1000] = -np.inf
    burst = clean.copy()
    for t in times:  # a few bad samples in a row, within the attack
        burst[int((t + 0.001) * RATE):int((t + 0.001) * RATE) + 12] = np.nan
    for x, extra in ((before, 0), (burst, 0), (scattered, 1)):
        for block in (64, 128, 1000):
            found = detect(x, RATE, block)
            assert len(times) <= found.size <= len(times) + extra, (block, found)
            assert f_measure(found, np.array(times), 0.005) >= 2 * len(times) / (2 * len(times) + extra), (block, found)


def test_a_dropout_in_a_ringing_drum_is_no_hit():
    """NaN (a dropout) for 25-30 ms in the middle of a snare's and a kick's decay: the frames touching it and
    the flux references after it hold no onset, so neither the gap nor the sound coming back is a hit."""
    x = place([0.3, 1.0], [snare, kick], 1.8)
    x[int(0.40 * RATE):int(0.425 * RATE)] = np.nan
    x[int(1.12 * RATE):int(1.15 * RATE)] = np.nan
    found = detect(x, RATE)
    assert found.size == 2 and np.allclose(found, [0.3, 1.0], atol=0.003), found


def test_two_dropouts_in_one_block_are_both_no_hit_whatever_the_block_size():
    """Two dropouts inside one 16384-sample block: the detector remembered only the last stretch of a block, so
    the sound coming back after the first one was a hit in big blocks only."""
    x = place([0.3, 1.0], [snare, kick], 1.8)
    for a, b in ((0.40, 0.425), (1.12, 1.15)):
        x[int(a * RATE):int(b * RATE)] = np.nan
    shift = (16384 - int(0.30 * RATE)) / RATE  # the snare starts the second 16384-sample block
    x = np.concatenate([np.zeros(int(round(shift * RATE)), np.float32), x])
    x[int((shift + 0.75) * RATE):int((shift + 0.76) * RATE)] = np.nan  # a third dropout, in the first's block
    for block in (128, 16384, 65536):
        found = detect(x, RATE, block)
        assert found.size == 2 and np.allclose(found - shift, [0.3, 1.0], atol=0.003), (block, found - shift)


def test_a_sound_cut_dead_into_digital_silence_is_no_hit():
    """Real kicks (GMRockKit) cut dead 120 ms in, into digital silence (an edit, a gate, the end of a take
    spliced on): the DC blocker turns the stop into a slowly decaying step that held as much energy as the
    kick's tail, so the cut passed as new sound (an onset at the cut, here and in a helper's acceptance run);
    the input's own differences show nothing arrived.  (A clipped hit's flat top holds still too, at the
    frame's extreme: that is a hit, test_engine's clipped kicks.)"""
    from pathlib import Path

    kit = Path("/usr/share/hydrogen/data/drumkits/GMRockKit")
    files = [kit / f"Kick-{v}.wav" for v in ("Med", "Hard", "Hardest")]
    if not all(f.exists() for f in files):
        pytest.skip("GMRockKit not installed (Debian package hydrogen-drumkits; scripts/setup.sh installs it)")
    for f in files:
        y, rate = sf.read(str(f), dtype="float32", always_2d=True)
        for cut_s in (0.12, 0.2):
            x = np.zeros(int(0.6 * rate), np.float32)
            n = min(y.shape[0], int(cut_s * rate))
            x[int(0.1 * rate):int(0.1 * rate) + n] = y[:n].mean(axis=1)
            for block in (64, 128, 441):
                found = detect(x, rate, block)
                assert found.size == 1 and abs(found[0] - 0.1) < 0.003, (f.name, cut_s, block, found)
    # a click of 1-2 ms out of digital silence ends before the hop after its peak frame, and is a hit (a
    # metronome, a short electronic sound; the first form of the check took them for cuts: none found)
    rng = np.random.default_rng(5)
    for ms in (0.5, 1.0, 2.0):
        n = int(ms / 1000 * RATE)
        x = np.zeros(2 * RATE, np.float32)
        times = 0.2 + 0.2 * np.arange(8)
        for t in times:
            x[int(t * RATE):int(t * RATE) + n] = (0.5 * rng.standard_normal(n)).astype(np.float32)
        found = detect(x, RATE)
        assert f_measure(found, times, 0.003) == 1.0, (ms, found)


def test_a_flam_is_one_hit():
    """A grace note 12 dB under the main note, 28 ms before it (within min_interval_s): the main note is
    searched again after the interval and is no new hit, since the level does not rise late_rise_db there."""
    x = np.zeros(RATE, np.float32)
    for at, gain, seed in ((0.3, 0.25, 1), (0.328, 1.0, 2)):
        s = snare(RATE, seed=seed) * np.float32(gain)
        i = int(at * RATE)
        x[i:i + s.size] += s[:x.size - i]
    found = detect(x, RATE)
    assert found.size == 1 and abs(found[0] - 0.3) < 0.002, found


def test_a_flam_on_a_snare_whose_body_swells_late_is_one_hit_and_the_next_hit_still_counts():
    """A grace note 12 dB under the main note, 20-24 ms before it, on a snare whose body swells 10 ms after its
    click: the main note is dropped (within min_interval_s of the grace note), and its body's peak, 30-34 ms after
    the grace note, is no new hit either (a peak within min_interval_s of a dropped attack needs a new attack
    rising late_rise_db over the loudest of the 2 ms before it: this one rose over the body's dips; a false onset
    there on every flam of such a kit).  A hat 25 ms after the main note, louder than it, is a new hit."""
    for gap in (0.020, 0.024):
        x = np.zeros(RATE, np.float32)
        for at, gain, seed in ((0.3, 0.25, 1), (0.3 + gap, 1.0, 2)):
            s = swelling_snare(RATE, seed=seed) * np.float32(gain)
            i = int(at * RATE)
            x[i:i + s.size] += s[:x.size - i]
        found = detect(x, RATE, 128)
        assert found.size == 1 and abs(found[0] - 0.3) < 0.002, (gap, found)
        i = int((0.3 + gap + 0.025) * RATE)
        h = hat(RATE, seed=3) * np.float32(2.0)
        x[i:i + h.size] += h[:x.size - i]
        found = detect(x, RATE, 128)
        assert found.size == 2 and abs(found[0] - 0.3) < 0.002 and abs(found[1] - i / RATE) < 0.002, (gap, found)


def test_a_retrigger_in_a_strokes_body_does_not_hide_the_next_stroke():
    """Double strokes 35 ms apart on a real snare (Hydrogen's ColomboAcousticDrumkit; every stroke is a true onset,
    35 >= 30 ms): a peak 12 ms into the first stroke's body is dropped for min_interval_s, as always; it rises
    less than MAIN_NOTE_RISE_DB over what sounds, so it is no flam's main note, and the second stroke needs no
    distinct new attack (taken for one, it hid 3 of the 6 second strokes; a helper's reproducer)."""
    from realtime.loops import add_shot, load_kit, merge_close

    kits = [k for k in available_kits() if k.name == "ColomboAcousticDrumkit"]
    if not kits:
        pytest.skip("Debian kit ColomboAcousticDrumkit not installed (apt install hydrogen-drumkits)")
    shot = load_kit(kits[0], RATE)["snare"][0]
    times = np.concatenate([[t, t + 0.035] for t in 0.2 + 0.15 * np.arange(6)])
    gains = [-1.98, -0.74, -3.13, -3.7, -1.8, -3.23, -3.73, -0.91, -0.72, -2.41, -2.82, -2.89]
    x = np.zeros(int(1.5 * RATE), np.float32)
    for t, g in zip(times, gains):
        add_shot(x, shot, int(round(t * RATE)), g)
    found = detect(x, RATE, 128)
    assert all(np.min(np.abs(found - t)) < 0.01 for t in merge_close(times)), found  # every stroke


@pytest.mark.parametrize("rate", [16000, 48000])
def test_settings_at_their_limits_still_find_a_flam(rate):
    """envelope_s at its most (2 ms) with max_latency_s 0: backtracking reaches back less than one envelope step,
    and the candidate features took the maximum of no steps (ValueError; a helper's fuzzing)."""
    x = np.zeros(rate // 2, np.float32)
    for at, gain in ((0.1, 0.3), (0.12, 1.0)):
        s = snare(rate, seed=int(at * 100)) * np.float32(gain)
        i = int(at * rate)
        x[i:i + s.size] += s[:x.size - i]
    for latency, lookback in ((0.0, 0.0), (0.003, 0.005)):
        found = detect(x, rate, 128, OnsetParams(envelope_s=0.002, max_latency_s=latency, lookback_s=lookback))
        assert found.size >= 1 and abs(found[0] - 0.1) < 0.005, (latency, found)


def test_long_cymbal_and_sine_decays_do_not_retrigger():
    t = np.arange(4 * RATE) / RATE
    rng = np.random.default_rng(2)
    sine = (0.8 * np.sin(2 * np.pi * 220 * t) * np.exp(-t / 1.0)).astype(np.float32)
    cymbal = (0.3 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 1.2)
              * (1 + 0.3 * np.sin(2 * np.pi * 7 * t))).astype(np.float32)  # shimmering decay
    for x in (sine, cymbal):
        x = np.concatenate([np.zeros(RATE // 4, np.float32), x])
        found = detect(x, RATE)
        assert found.size == 1 and abs(found[0] - 0.25) < 0.002, found


def test_a_cymbal_decay_at_16_khz_hardly_retriggers():
    # At 16 kHz the 4 bands above 8 kHz do not exist.  The detection function was the mean over the 13 bands
    # left, so a cymbal's flicker there counted 17/13 as much as at 48 kHz: 32 false onsets in these 12 decays
    # (none at 48 kHz).  The missing bands now count as bands with no rise: 10.
    extra = {}
    for rate in (16000, 48000):
        extra[rate] = 0
        for seed in range(12):
            t = np.arange(2 * rate) / rate
            noise = np.diff(np.random.default_rng(seed).standard_normal(t.size + 1))
            cymbal = (0.3 * noise * np.exp(-t / 0.8) * (1 + 0.1 * np.sin(2 * np.pi * (5 + seed) * t))).astype(np.float32)
            x = np.concatenate([np.zeros(rate // 4, np.float32), cymbal, np.zeros(rate // 4, np.float32)])
            found = detect(x, rate, block_size=128)
            assert np.min(np.abs(found - 0.25)) < 0.002, (rate, seed, found)
            extra[rate] += int(np.count_nonzero(np.abs(found - 0.25) > 0.025))
    assert extra[48000] == 0 and extra[16000] <= 16, extra


def test_top_bands_below_32_khz_takes_the_strongest_of_the_full_layout():
    # at 16 kHz 13 of the 17 bands exist; the missing ones (no rise) are never among the strongest, so the
    # detection function with top_bands 13 is the sum over the 13 present over 13, and 17/13 of the default mean
    t = np.arange(int(0.3 * 16000)) / 16000
    burst = np.random.default_rng(1).standard_normal(t.size) * np.exp(-t / 0.05)
    x = np.concatenate([np.zeros(4000), 0.5 * burst, np.zeros(4000)]).astype(np.float32)
    det = OnsetDetector(16000)
    assert det.bands.shape[1] == 13 and det.n_bands_full == 17

    def strength(top: int) -> float:
        d = OnsetDetector(16000, OnsetParams(top_bands=top))
        found = [o for i in range(0, x.size, 128) for o in d.process(x[i:i + 128])] + d.flush()
        assert len(found) == 1
        return found[0].strength

    assert strength(13) == pytest.approx(strength(0) * 17 / 13, rel=1e-5)
    assert strength(20) == pytest.approx(strength(0), rel=1e-6)  # more than the layout has: all of them


def test_a_stream_cut_mid_decay_has_no_onset_at_its_end():
    """flush() must not turn the end of a file (audio still sounding) into a hit."""
    for make in (kick, snare, hat):
        for cut in (0.33, 0.36, 0.42, 0.5, 0.58):
            found = detect(place([0.3], [make], cut), RATE)
            assert found.size == 1 and abs(found[0] - 0.3) < 0.003, (make.__name__, cut, found)
    loop = render_loop("dense_hats", 140, 6.0, RATE, seed=0, kit="synth")  # ends on a kick's tail at -27 dBFS
    assert detect(loop.audio, RATE).max() < loop.onsets[-1] + 0.03


def test_soft_hats_over_ringing_drums_are_not_taken_for_cuts():
    """The truncation check also asks the treble: ghost snares and soft hats over a loud decaying kick add
    little energy but much treble.  On a real kit's loop, checking energy alone loses true hits."""
    kits = [k for k in available_kits() if k.name == "drums"]  # lmms-common's kit
    if not kits:
        pytest.skip("Debian kit lmms not installed (apt install lmms-common)")
    loop = render_loop("ghosts", 170, 6.0, RATE, seed=0, kit=kits[0])

    def hits_and_false(params: OnsetParams) -> tuple[int, int]:
        found = detect(loop.audio, RATE, 128, params)
        d = np.abs(loop.onsets[:, None] - found[None, :]) <= 0.025
        true = min(int(d.any(axis=1).sum()), int(d.any(axis=0).sum()))
        return true, found.size - true

    true, false = hits_and_false(OnsetParams())
    true_energy_only, false_energy_only = hits_and_false(OnsetParams(treble_rise=float("inf")))
    assert true >= true_energy_only + 3, (true, true_energy_only)
    assert false <= false_energy_only


def test_soft_hats_under_a_loud_steady_bass_are_found():
    """The treble lift: hats 36 dB under a loud 45 Hz bass tone rise in a few treble bands only, which the
    mean over all bands drowns; lifted toward the bass's level, every one is found (near its attack: the
    backtracking follows the bass's waveform by up to a few ms); without the lift, none."""
    t = np.arange(4 * RATE) / RATE
    x = (0.8 * np.sin(2 * np.pi * 45 * t) + 0.1 * np.sin(2 * np.pi * 90 * t)).astype(np.float32)
    times = np.arange(0.5, 3.6, 0.25)
    for k, when in enumerate(times):
        h = hat(RATE, 0.2, seed=k) * np.float32(10 ** (-36 / 20))
        i = int(round(when * RATE))
        x[i:i + h.size] += h
    found = detect(x, RATE, 128)
    found = found[found > 0.3]  # (the tone starting at 0 s is an onset)
    assert found.size == times.size, found
    assert np.abs(found - times).max() < 0.008, found - times
    unlifted = detect(x, RATE, 128, OnsetParams(lift_max_db=0))
    assert unlifted[unlifted > 0.3].size <= 1, unlifted


def test_a_quiet_input_is_heard_as_well_as_a_loud_one():
    """The level control raises a quiet input before the log compression: a real kit's loop at -30 dB is
    found as well as at full level (without it, and without the per-band gain that also lifts quiet
    treble bands, most hits fall under the thresholds)."""
    kits = [k for k in available_kits() if k.name == "GMRockKit"]
    if not kits:
        pytest.skip("Debian kit GMRockKit not installed (apt install hydrogen-drumkits)")
    loop = render_loop("ghosts", 110, 6.0, RATE, seed=0, kit=kits[0])
    quiet = loop.audio * np.float32(10 ** (-30 / 20))
    loud_f = f_measure(detect(loop.audio, RATE), loop.onsets)
    assert loud_f >= 0.95
    assert f_measure(detect(quiet, RATE), loop.onsets) >= loud_f - 0.01
    assert f_measure(detect(quiet, RATE, params=OnsetParams(agc_release_s=0, lift_max_db=0)), loop.onsets) < 0.5


def test_agc_cut_above_db_hears_a_hot_input_as_a_loud_one():
    """With agc_cut_above_db set, the level control also lowers an input much louder than its target (float
    samples beyond full scale: a hot limiter, a file stored at another scale): loops of the generated kit 20 and
    40 dB louder give the same onsets (within 1 ms), found as well as at their level.  By default (never
    lowered) the log compression hears the decays' flicker louder and the onsets change with the level."""
    lowered = OnsetParams(agc_cut_above_db=6.0)
    changed = 0
    for style in ("dense_hats", "ghosts"):
        loop = render_loop(style, 140, 6.0, RATE, seed=0, kit="synth")
        nominal_f = f_measure(detect(loop.audio, RATE, 128, lowered), loop.onsets)
        assert nominal_f >= 0.9
        at20, at40 = (detect(loop.audio * np.float32(10 ** (g / 20)), RATE, 128, lowered) for g in (20, 40))
        assert at20.size == at40.size and np.abs(at20 - at40).max() < 0.001, style
        assert f_measure(at40, loop.onsets) >= nominal_f - 0.01, style
        a, b = (detect(loop.audio * np.float32(10 ** (g / 20)), RATE, 128) for g in (20, 40))
        changed += a.size != b.size or np.abs(a - b).max() >= 0.001
    assert changed


def test_hiss_is_not_raised_into_hits():
    """Steady hiss peaking at -40 dBFS, alone for 10 s: the level control must not raise it to a drum's level
    (its gain stops where the quietest frames would reach agc_noise_db)."""
    rng = np.random.default_rng(5)
    hiss = rng.standard_normal(10 * RATE)
    hiss = (hiss / np.abs(hiss).max() * 10 ** (-40 / 20)).astype(np.float32)
    found = detect(hiss, RATE)
    assert found[found > 0.05].size == 0, found  # (the hiss starting at 0 s is an onset)
    unguarded = detect(hiss, RATE, params=OnsetParams(agc_noise_db=20.0))
    assert unguarded[unguarded > 0.05].size > 0


def test_hiss_under_a_hum_is_not_lifted_into_hits():
    """Mains hum (50 + 150 Hz) with white hiss 20 dB under it, peaking at -30 dBFS, for 10 s after 0.5 s of
    digital silence: the treble lift would raise the hiss toward the hum's level; its floor limit
    (lift_noise) keeps it down, and the silence before (exact zeros: no floor) does not switch it off."""
    rng = np.random.default_rng(5)
    t = np.arange(10 * RATE) / RATE
    x = np.sin(2 * np.pi * 50 * t) + 0.3 * np.sin(2 * np.pi * 150 * t) + 0.1 * rng.standard_normal(t.size)
    x = (x / np.abs(x).max() * 10 ** (-30 / 20)).astype(np.float32)
    x = np.concatenate([np.zeros(RATE // 2, np.float32), x])
    found = detect(x, RATE, 128)
    assert found[found > 0.55].size == 0, found  # (the hum starting at 0.5 s is an onset)
    unguarded = detect(x, RATE, 128, OnsetParams(lift_noise=1e9))
    assert unguarded[unguarded > 0.55].size > 0


def test_frames_have_fast_fft_lengths():
    """window_s is rounded to the nearest length with no prime factor above 5 (514 = 2 x 257 is slow)."""
    for rate, n in ((48000, 512), (44100, 480), (16000, 162), (96000, 1024)):
        assert OnsetDetector(rate).n_win == n


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="hop_s"):
        OnsetParams(hop_s=0.0)
    with pytest.raises(ValueError, match="agc_max_gain_db"):
        OnsetParams(agc_max_gain_db=-6.0)
    with pytest.raises(ValueError, match="agc_cut_above_db"):
        OnsetParams(agc_cut_above_db=-1.0)
    with pytest.raises(ValueError, match="min_bins"):
        OnsetParams(min_bins=0)
    for field, value, says in (("max_hz", float("inf"), "finite"), ("floor_dbfs", float("nan"), "finite"),
                               ("threshold_ratio", float("inf"), "finite"), ("max_hz", 1e300, "<= 1e+06"),
                               ("ref_frames", 10 ** 11, "<= 1000"), ("envelope_s", 0.01, "<= 0.002")):
        with pytest.raises(ValueError, match=f"{field} = .*must be .*{re.escape(says)}"):  # (crashed, found nothing)
            OnsetParams(**{field: value})
    with pytest.raises(ValueError, match="sample rate 100"):
        OnsetDetector(100)
    with pytest.raises(ValueError, match="block_size"):
        detect(np.zeros(10, np.float32), RATE, block_size=0)


def test_cli_writes_one_time_per_line(tmp_path, capsys):
    times = [0.3, 0.8, 1.3]
    mono = place(times, [kick, snare, hat], 2.0, 44100)
    wav = tmp_path / "hits.wav"
    sf.write(str(wav), np.stack([mono, mono], axis=1), 44100)  # stereo in, mixed to mono
    out = tmp_path / "times.txt"
    assert main(["onsets", str(wav), "-o", str(out), "--block-size", "64"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(len(s.split(".")[1]) == 6 for s in lines)
    assert np.allclose([float(s) for s in lines], detect(mono, 44100, 64), atol=1e-6)
    assert np.max(np.abs(np.loadtxt(out) - times)) < 0.003
    capsys.readouterr()
    assert main(["onsets", str(wav)]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_cli_ctrl_c_writes_the_onsets_found_so_far(tmp_path, capsys, monkeypatch):
    times = [0.3, 0.8, 1.3, 1.8]
    mono = place(times, [kick, snare, hat, kick], 2.5, 44100)
    wav = tmp_path / "hits.wav"
    sf.write(str(wav), mono, 44100)
    out = tmp_path / "times.txt"
    process = OnsetDetector.process
    calls = []

    def interrupted_at_1_5_s(self, block):  # Ctrl-C arrives while the block ending at 1.5 s is read
        calls.append(block.size)
        if sum(calls) >= 1.5 * 44100:
            raise KeyboardInterrupt
        return process(self, block)

    monkeypatch.setattr(OnsetDetector, "process", interrupted_at_1_5_s)
    import signal
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["onsets", str(wav), "-o", str(out), "--block-size", "441"]) == 130
    # run in-process, it leaves the caller's handlers as they were (its guard against a second Ctrl-C, whose
    # timer would have ended this process 10 s later, stood down)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert np.max(np.abs(np.loadtxt(out) - times[:3])) < 0.003  # the three hits before 1.5 s
    assert "hits.wav: interrupted after 1.5 s of it: the 3 onsets found" in capsys.readouterr().err


def test_cli_refuses_an_output_it_cannot_write_before_the_work_and_names_a_full_disk(tmp_path, capsys, monkeypatch):
    wav = tmp_path / "hits.wav"
    sf.write(str(wav), place([0.3, 0.8], [kick, snare], 1.2), RATE)
    fed = []
    process = OnsetDetector.process
    monkeypatch.setattr(OnsetDetector, "process", lambda self, block: fed.append(block.size) or process(self, block))
    (tmp_path / "taken").mkdir()
    assert main(["onsets", str(wav), "-o", str(tmp_path / "taken")]) == 1
    assert "taken: is a folder" in capsys.readouterr().err and not fed  # refused before reading the file
    import pathlib
    if pathlib.Path("/dev/full").exists():  # writable, but every write fails: found when writing, and named
        assert main(["onsets", str(wav), "-o", "/dev/full"]) == 1
        err = capsys.readouterr().err
        assert "cannot write /dev/full: No space left on device" in err and "Traceback" not in err
    assert main(["onsets", str(wav), "-o", str(tmp_path / "new" / "times.txt")]) == 0  # a new folder is made
    assert np.loadtxt(tmp_path / "new" / "times.txt").size == 2


def test_cli_warns_of_non_finite_samples_and_still_finds_the_hits(tmp_path, capsys):
    """NaN/inf in a float file: onsets names how many (as analyze and listen count them) and finds every hit."""
    times = [0.3, 0.8, 1.3]
    x = place(times, [kick, snare, hat], 1.8)
    x[int(0.6 * RATE):int(0.6 * RATE) + 90] = np.nan
    x[int(1.0 * RATE)] = np.inf
    path = tmp_path / "holes.wav"
    sf.write(str(path), x, RATE, subtype="FLOAT")
    out = tmp_path / "t.txt"
    assert main(["onsets", str(path), "-o", str(out)]) == 0
    assert "holes.wav: 91 non-finite samples in the mix (NaN/inf;" in capsys.readouterr().err
    assert f_measure(np.loadtxt(out, ndmin=1), np.array(times), 0.005) == 1.0
    sf.write(str(path), np.nan_to_num(x), RATE, subtype="FLOAT")
    assert main(["onsets", str(path), "-o", str(out)]) == 0
    assert "non-finite" not in capsys.readouterr().err
    huge = np.nan_to_num(x)  # a stereo file at float32's limit: its channels mix to inf, which is named
    sf.write(str(path), np.stack([huge, huge], axis=1), RATE, subtype="FLOAT")
    assert main(["onsets", str(path), "-o", str(out)]) == 0
    assert "non-finite samples in the mix" in capsys.readouterr().err


def test_cli_names_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert main(["onsets", str(bad)]) == 1
    assert "broken.wav" in capsys.readouterr().err
    assert main(["onsets", str(tmp_path / "gone.wav")]) == 1
    assert "gone.wav: no such file" in capsys.readouterr().err
    assert main(["onsets", str(tmp_path)]) == 1
    assert f"{tmp_path}: a folder, not an audio file" in capsys.readouterr().err  # as analyze and listen say
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 48000)
    assert main(["onsets", str(empty)]) == 1  # as listen and analyze: an empty file is an error, not "no onsets"
    err = capsys.readouterr().err
    assert err.startswith("drumtimbre onsets: error:") and "empty.wav: empty audio (0 frames)" in err
    slow = tmp_path / "slow.wav"
    sf.write(str(slow), np.zeros(3000, dtype=np.float32), 3000)
    assert main(["onsets", str(slow)]) == 1  # below the detector's 4 kHz: named, no traceback
    assert "slow.wav: sample rate 3000 Hz" in capsys.readouterr().err
    assert main(["onsets", "/dev/null"]) == 1  # there, but no file to read
    assert "/dev/null: not a regular file" in capsys.readouterr().err
    assert main(["onsets", ""]) == 1  # (not taken for the folder ".")
    assert "'': an empty file name" in capsys.readouterr().err
    still = tmp_path / "still.wav"
    sf.write(str(still), np.full(RATE, 0.5, dtype=np.float32), RATE, subtype="FLOAT")
    assert main(["onsets", str(still)]) == 0  # a file of no sound: no onsets, and why
    assert "still.wav: no sound in it" in capsys.readouterr().err


def test_cli_writes_to_stdout_for_dash(tmp_path, capsys, monkeypatch):
    wav = tmp_path / "hits.wav"
    sf.write(str(wav), place([0.3, 0.8], [kick, snare], 1.5, 44100), 44100)
    monkeypatch.chdir(tmp_path)
    assert main(["onsets", str(wav), "-o", "-"]) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 2 and abs(float(lines[0]) - 0.3) < 0.005
    assert not (tmp_path / "-").exists()  # not a file named "-", as analyze's and predict's `-o -`


def test_cli_scores_against_a_truth_file_and_names_misses_and_extras(tmp_path, capsys):
    times = [0.3, 0.8, 1.3]
    wav = tmp_path / "hits.wav"
    sf.write(str(wav), place(times, [kick, snare, hat], 2.0, 44100), 44100)
    truth = tmp_path / "truth.txt"
    truth.write_text("# my marks\n0.300\n0.800\n\n1.300\n1.700\n")  # 1.7 s: a hit that is not in the audio
    assert main(["onsets", str(wav), "--truth", str(truth)]) == 0
    err = capsys.readouterr().err
    assert "F 0.857 (precision 1.000, recall 0.750) at +-25 ms: 3 of 4 true onsets found, 0 extra" in err
    assert "missed at: 1.700" in err and "extra at" not in err
    truth.write_text("0.300\n0.780\n1.300\n")  # 20 ms off: a match at 25 ms, none at 10 ms
    assert main(["onsets", str(wav), "--truth", str(truth), "--tolerance-ms", "10"]) == 0
    err = capsys.readouterr().err
    assert "2 of 3 true onsets found, 1 extra" in err and "missed at: 0.780" in err
    truth.write_text("0.3\nkick\n")
    assert main(["onsets", str(wav), "--truth", str(truth)]) == 2
    assert "truth.txt:2: 'kick' is not a time in seconds" in capsys.readouterr().err
    for bad in ("nan", "inf", "-3"):  # not a time: named, not scored as a hit nobody can find
        truth.write_text(f"0.3\n{bad}\n")
        assert main(["onsets", str(wav), "--truth", str(truth)]) == 2
        assert f"truth.txt:2: {bad!r} is not a time in seconds (a finite number >= 0)" in capsys.readouterr().err
    assert main(["onsets", str(wav), "--truth", str(wav)]) == 2  # the audio given as the truth
    assert f"{wav}: not a text file of times" in capsys.readouterr().err
    for where, says in ((tmp_path, "a folder, not a file of times"), (tmp_path / "gone.txt", "no such file")):
        assert main(["onsets", str(wav), "--truth", str(where)]) == 2
        assert f"{where}: {says}" in capsys.readouterr().err
    truth.write_text("\ufeff0.300\n0.800\n1.300\n", encoding="utf-8")  # a byte-order mark, as Notepad writes
    assert main(["onsets", str(wav), "--truth", str(truth)]) == 0
    assert "3 of 3 true onsets found" in capsys.readouterr().err
    assert main(["onsets", str(wav), "--tolerance-ms", "10"]) == 2  # without --truth it would do nothing
    assert "--tolerance-ms 10: only with --truth" in capsys.readouterr().err


def test_score_onsets_pairs_closest_first_one_to_one():
    from realtime.onset_match import score_onsets

    sc = score_onsets(np.array([1.00, 1.01, 2.0, 5.0]), np.array([1.005, 2.02, 3.0]), 0.025)
    assert sc.matched == 2 and sc.precision == 0.5 and sc.recall == pytest.approx(2 / 3)
    assert sc.missed.tolist() == [3.0] and sc.extra.tolist() == [1.01, 5.0]  # 1.00 and 1.01 tie at 5 ms: the first
    assert score_onsets(np.array([]), np.array([1.0])).f == 0.0


def test_matching_is_closest_first_and_its_memory_follows_the_pairs_not_the_product():
    """The matcher against the rule written out over every pair (small random sets, with ties and unsorted
    detections); then an hour's take at 8 hits a second (28,800 onsets each side): the every-pair form needed
    6 GB for that, `onsets --truth` now a few MB."""
    import tracemalloc

    from realtime.onset_match import match

    def every_pair(est, ref, tol):
        d = np.abs(ref[:, None] - est[None, :])
        ri, ei = np.nonzero(d <= tol)
        used_r, used_e, pairs = set(), set(), []
        for k in np.argsort(d[ri, ei], kind="stable"):
            if ri[k] not in used_r and ei[k] not in used_e:
                used_r.add(ri[k])
                used_e.add(ei[k])
                pairs.append((int(ri[k]), int(ei[k])))
        return pairs

    rng = np.random.default_rng(3)
    for trial in range(200):
        ref = np.sort(rng.uniform(0, 3, rng.integers(1, 50)))
        est = rng.uniform(0, 3, rng.integers(1, 50))
        if trial % 2:
            ref, est = np.round(ref, 2), np.round(est, 2)  # ties
        assert match(est, ref, 0.025) == every_pair(est, ref, 0.025), trial
    ref = np.arange(28800) / 8.0
    est = ref + rng.normal(0, 0.01, ref.size)
    tracemalloc.start()
    try:
        pairs = match(est, ref, 0.025)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pairs) > 0.98 * ref.size and peak < 64 * 2 ** 20, (len(pairs), peak)


def test_best_offset_finds_another_clocks_start_despite_an_extra_and_a_miss():
    from realtime.onset_match import best_offset

    truth = np.array([0.5, 0.8, 1.3, 1.5, 2.2, 2.6])  # irregular: one offset fits
    est = np.r_[0.1, truth[1:] + 2.3]  # an extra onset first, the first true hit missed, on a clock 2.3 s later
    assert best_offset(est, truth, 0.006) == pytest.approx(2.3)
    assert best_offset(truth + 2.3, truth, 0.006) == pytest.approx(2.3)


def test_cli_warns_of_channels_that_cancel_and_of_samples_beyond_full_scale(tmp_path, capsys):
    """A stereo file whose channels are out of phase (L = -R) mixes to silence: no onset, but a warning saying
    why and what to do; --channels 1 then finds every hit.  A float file stored at 16-bit integer scale
    (+-32767) is named, and its hits are found as at full scale (the detector clipped it at 1000 and
    heard splatter: twice the hits)."""
    times = [0.3, 0.8, 1.3, 1.8]
    mono = place(times, [kick, snare, hat, kick], 2.3)
    inverted = tmp_path / "inverted.wav"
    sf.write(str(inverted), np.stack([mono, -mono], axis=1), RATE, subtype="FLOAT")
    out = tmp_path / "t.txt"
    assert main(["onsets", str(inverted), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "inverted.wav: the channels cancel when mixed to mono" in err and "--channels 1" in err, err
    assert "no sound in it" not in err  # (the channels have sound; the mix has none because they cancel)
    assert out.read_text() == ""
    assert main(["onsets", str(inverted), "-o", str(out), "--channels", "1"]) == 0
    assert "cancel" not in capsys.readouterr().err
    assert f_measure(np.loadtxt(out, ndmin=1), np.array(times), 0.005) == 1.0
    assert main(["onsets", str(inverted), "--channels", "3"]) == 1
    assert "input channel 3: the file has 2 channel(s)" in capsys.readouterr().err
    assert main(["onsets", str(inverted), "--channels", ""]) == 2  # (it meant channel 1)
    assert "input channels []: name at least one" in capsys.readouterr().err
    assert main(["onsets", str(inverted), "-o", str(out), "--channels", "1 2"]) == 0  # channels 1 and 2, not 12
    err = capsys.readouterr().err
    assert "cancel" in err and "channel 12" not in err, err
    assert main(["onsets", str(inverted), "--channels", "1 3"]) == 1
    assert "input channel 3: the file has 2 channel(s)" in capsys.readouterr().err
    stereo = tmp_path / "stereo.wav"  # an ordinary stereo file: no warning
    sf.write(str(stereo), np.stack([mono, 0.5 * mono], axis=1), RATE, subtype="FLOAT")
    assert main(["onsets", str(stereo), "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    loud = tmp_path / "int_scale.wav"
    sf.write(str(loud), mono / np.max(np.abs(mono)) * 32767, RATE, subtype="FLOAT")
    assert main(["onsets", str(loud), "-o", str(out)]) == 0
    assert "int_scale.wav: peak 3.28e+04 x full scale" in capsys.readouterr().err
    assert f_measure(np.loadtxt(out, ndmin=1), np.array(times), 0.005) == 1.0
    holey = mono / np.max(np.abs(mono)) * 32767
    holey[::50] = np.nan  # the same with NaN samples in every block: its levels were not read at all
    sf.write(str(loud), holey, RATE, subtype="FLOAT")
    assert main(["onsets", str(loud), "-o", str(out), "-b", "16384"]) == 0
    err = capsys.readouterr().err
    assert "int_scale.wav: peak 3.28e+04 x full scale" in err and "no sound" not in err, err


def test_a_wav_cut_short_is_an_error_after_its_onsets(tmp_path, capsys):
    """A WAV copy that stopped part way: libsndfile reads the part that is there and says nothing, so the file
    looked whole.  Its onsets up to the cut are written, then an error naming the file and the cut, exit 1;
    an intact WAV, a FLAC and a header written while streaming (no length) are no such error."""
    from realtime.cut_short import wav_cut_short

    times = [0.3, 0.8, 1.3, 1.8]
    mono = place(times, [kick, snare, hat, kick], 2.3)
    whole = tmp_path / "whole.wav"
    sf.write(str(whole), mono, RATE, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) - int(1.0 * RATE) * 2])  # the last second missing
    assert wav_cut_short(whole) is None
    assert wav_cut_short(cut) == "cut short: its header promises 2.3 s of audio, the file holds 1.3 s"
    flac = tmp_path / "whole.flac"
    sf.write(str(flac), mono, RATE)
    assert wav_cut_short(flac) is None
    streamed = tmp_path / "streamed.wav"
    i = data.index(b"data")
    for placeholder in (b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f"):  # (arecord writing to a pipe: 0x7FFFFFFF)
        streamed.write_bytes(data[:i + 4] + placeholder + data[i + 8:len(data) - RATE])
        assert wav_cut_short(streamed) is None
    import struct
    n = struct.unpack("<I", data[i + 4:i + 8])[0]
    rounded = tmp_path / "rounded.wav"  # a header a few bytes over its data: a writer's rounding, whole
    rounded.write_bytes(data[:i + 4] + struct.pack("<I", n + 2) + data[i + 8:])
    assert wav_cut_short(rounded) is None
    out = tmp_path / "t.txt"
    assert main(["onsets", str(cut), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cut.wav: read failed (cut short: its header promises 2.3 s of audio, the file holds 1.3 s)" in err, err
    assert f_measure(np.loadtxt(out, ndmin=1), np.array(times[:2]), 0.005) == 1.0  # the two hits before the cut


def test_a_wav_whose_header_declares_no_audio_is_named_so(tmp_path, capsys):
    """A recorder stopped before it wrote its header's sizes (RIFF and data sizes 0): libsndfile reads 0 frames,
    and the error said only 'empty audio'; it now says the header declares none and how much follows it."""
    from realtime.cut_short import wav_header_empty

    mono = place([0.3, 0.8, 1.3], [kick, snare, hat], 2.0)
    whole = tmp_path / "whole.wav"
    sf.write(str(whole), mono, RATE, subtype="PCM_16")
    data = bytearray(whole.read_bytes())
    i = data.index(b"data")
    data[4:8] = bytes(4)
    data[i + 4:i + 8] = bytes(4)
    zero = tmp_path / "zero.wav"
    zero.write_bytes(bytes(data))
    assert sf.info(str(zero)).frames == 0  # (what libsndfile makes of it)
    assert wav_header_empty(whole) is None
    assert main(["onsets", str(zero)]) == 1
    assert "zero.wav: empty audio (0 frames): its header declares no audio, yet 2.0 s of audio follow it" \
        in capsys.readouterr().err
    empty = tmp_path / "empty.wav"  # truly empty: said as before
    sf.write(str(empty), np.zeros(0, np.float32), RATE)
    assert wav_header_empty(empty) is None
