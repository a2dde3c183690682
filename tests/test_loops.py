"""Drum loops with exact ground truth (realtime.loops)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from realtime import loops
from realtime.loops import EXTRA_STYLES, MERGE_S, STYLES, render_loop, role_of, write_loop

HAVE_KITS = "GMRockKit" in (p.name for p in loops.HYDROGEN_KITS.iterdir()) if loops.HYDROGEN_KITS.is_dir() else False


@pytest.mark.parametrize("style", STYLES + EXTRA_STYLES)
def test_every_style_renders_sorted_truth(style):
    lp = render_loop(style, 120, 4.0, 16000, seed=3, kit="synth")
    assert lp.audio.dtype == np.float32 and lp.audio.ndim == 1 and lp.audio.size == 4 * 16000
    assert np.isclose(np.max(np.abs(lp.audio)), 0.9, atol=1e-3)
    assert lp.onsets.size >= 8
    assert np.all(np.diff(lp.onsets) >= MERGE_S - 1e-9)
    assert lp.onsets[0] >= loops.LEAD_IN_S - 0.05 and lp.onsets[-1] < 4.0
    # each truth time is an exact sample index
    assert np.allclose(lp.onsets * 16000, np.round(lp.onsets * 16000), atol=1e-6)


def test_truth_is_the_attack_start_not_the_file_start():
    lp = render_loop("groove16", 100, 3.0, 48000, seed=1, kit="synth")
    first = int(round(lp.onsets[0] * 48000))
    hit_peak = np.max(np.abs(lp.audio[first: first + 2400]))
    before = np.max(np.abs(lp.audio[:first]))
    assert before < hit_peak * 10 ** (loops.ATTACK_DB / 20)  # nothing at -40 dB before the truth
    assert abs(lp.audio[first]) >= hit_peak * 10 ** (loops.ATTACK_DB / 20) * 0.999


def test_flams_are_one_onset_and_ghosts_are_soft():
    lp = render_loop("flams", 110, 6.0, 16000, seed=0, kit="synth")
    hit_times = np.array([h.time for h in lp.hits])
    gaps = np.diff(np.sort(hit_times))
    assert np.any((gaps >= 0.010 - 1e-4) & (gaps <= 0.028 + 1e-4))  # there are flams
    assert lp.onsets.size < hit_times.size  # and they were merged
    gh = render_loop("ghosts", 110, 6.0, 16000, seed=0, kit="synth")
    soft = [h for h in gh.hits if -30 <= h.gain_db <= -20]
    assert soft and all(h.role == "snare" for h in soft)


def test_ride_groove_plays_eighths_on_a_cymbal():
    """The ride style: a cymbal on every 8th (a kit without a cymbal named ride uses its other cymbals), kick
    and snare on the beats; each ride hit lands on the ringing of the one before."""
    lp = render_loop("ride", 120, 4.0, 16000, seed=1, kit="synth")
    rides = [h for h in lp.hits if h.role == "ride"]
    assert rides and all(h.file == "synth:cymbal" for h in rides)
    grid = 60 / 120 / 2  # 8ths, s
    t = np.array([h.time for h in rides])
    assert np.all(np.min(np.abs((t - loops.LEAD_IN_S)[:, None] / grid * 2 - np.arange(64)[None, :]), axis=1) < 0.05)
    assert np.count_nonzero(np.diff(t) > grid * 0.9) >= len(t) // 2  # mostly 8ths, a few 16th skips
    assert {"kick", "snare"} <= {h.role for h in lp.hits}


@pytest.mark.skipif(not HAVE_KITS, reason="Debian hydrogen-drumkits not installed (/usr/share/hydrogen/data/drumkits)")
def test_ride_groove_takes_the_kits_ride_cymbals():
    lp = render_loop("ride", 100, 3.0, 48000, seed=0, kit="GMRockKit")
    rides = {h.file for h in lp.hits if h.role == "ride"}
    assert rides and all("ride" in f.lower() for f in rides)


def test_same_seed_same_loop_other_seed_other_loop():
    a = render_loop("mixed", 140, 3.0, 16000, seed=5, kit="synth")
    b = render_loop("mixed", 140, 3.0, 16000, seed=5, kit="synth")
    c = render_loop("mixed", 140, 3.0, 16000, seed=6, kit="synth")
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.onsets, b.onsets)
    assert not np.array_equal(a.onsets, c.onsets)


def test_write_loop_round_trips(tmp_path):
    lp = render_loop("kick_hat", 130, 2.0, 44100, seed=2, kit="synth")
    wav, txt = write_loop(lp, tmp_path / "loop")
    data, rate = sf.read(str(wav))
    assert rate == 44100 and data.shape == lp.audio.shape
    assert np.allclose(data, lp.audio, atol=1e-5)
    lines = txt.read_text().splitlines()
    assert len(lines) == lp.onsets.size and all(len(s.split(".")[1]) == 6 for s in lines)
    assert np.allclose(np.loadtxt(txt), lp.onsets, atol=1e-6)


def test_role_of_names():
    assert role_of("Kick-Hard") == "kick" and role_of("bd_01") == "kick" and role_of("bassdrum01") == "kick"
    assert role_of("HatClosed-Med") == "hat" and role_of("hh_02") == "hat" and role_of("hihat_opened01") == "open_hat"
    assert role_of("Snare-Soft") == "snare" and role_of("sd_03") == "snare"
    # General MIDI sample names (FluidR3_GM, TimGM6mb): "Snr", "Bass Drum"; a bass (guitar) note is no kick
    assert role_of("0732_Std_Snr_2_L") == "snare" and role_of("1038_Power_Bass_Drum_1_L") == "kick"
    assert role_of("0090_Bass Drum New") == "kick" and role_of("Slap_Bass_C2") is None
    assert role_of("tom_snr10") == "tom" and role_of("crash_snr5") == "cymbal"  # "snr": a noise level there
    assert role_of("TomFloor-Med") == "tom" and role_of("Crash-Hard") == "cymbal"
    assert role_of("HatPedal-Soft") is None and role_of("Cowbell-Hard") is None


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="samba"):
        render_loop("samba", 120, 2.0, kit="synth")
    with pytest.raises(ValueError, match="bpm 5"):
        render_loop("groove16", 5, 2.0, kit="synth")
    with pytest.raises(ValueError, match="no_such_kit"):
        render_loop("groove16", 120, 2.0, kit="no_such_kit")


@pytest.mark.skipif(not HAVE_KITS, reason="Debian hydrogen-drumkits not installed (/usr/share/hydrogen/data/drumkits)")
def test_debian_kit_one_shots_and_truth():
    lp = render_loop("groove16", 120, 3.0, 48000, seed=0, kit="GMRockKit")
    assert all("GMRockKit" in h.file for h in lp.hits)
    shots = loops.load_kit("GMRockKit", 48000)
    assert {"kick", "snare", "hat"} <= set(shots)
    for s in shots["kick"]:
        # attack start = first sample at -40 dB re peak, after the file's own leading silence
        peak = np.max(np.abs(s.samples))
        assert np.all(np.abs(s.samples[: s.attack]) < peak * 0.01) and abs(s.samples[s.attack]) >= peak * 0.01


def test_dc_offset_is_taken_where_the_file_is_quiet():
    """A one-shot that starts right on its attack has no offset to remove (the old estimate from its first
    samples added one, which the fade-out turned into a swell); a real offset is found at the quiet end."""
    from encoder.audio import dc_offset as _dc_offset

    sr = 48000
    t = np.arange(int(0.5 * sr)) / sr
    snare = (np.cos(2 * np.pi * 180 * t) * np.exp(-t / 0.05)).astype(np.float64)  # starts at its peak
    assert abs(_dc_offset(snare)) < 1e-3
    padded = np.r_[np.zeros(200), snare] + 0.1  # silence first, and a constant offset throughout
    assert _dc_offset(padded) == pytest.approx(0.1, abs=1e-3)
