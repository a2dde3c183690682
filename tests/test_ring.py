"""Taking the ring of earlier hits out of a hit's window (realtime.ring)."""
from __future__ import annotations

import numpy as np
import pytest

from realtime.ring import context_samples, subtract_ring
from tests.signals import hat, kick

RATE = 16000


def test_silence_before_or_too_little_context_leaves_the_window_as_it_is():
    w = hat(RATE, seed=1).astype(np.float32)
    assert np.array_equal(subtract_ring(np.zeros(context_samples(RATE)), w, RATE), w)
    assert np.array_equal(subtract_ring(kick(RATE)[:context_samples(RATE) - 1], w, RATE), w)
    assert subtract_ring(kick(RATE), np.zeros(0, np.float32), RATE).size == 0


def test_a_hat_over_a_ringing_kick_comes_out_closer_to_the_hat_alone():
    """A hat 150 ms into a loud 55 Hz kick: after subtraction its first 100 ms is much nearer the hat alone (the
    kick's low partial mostly gone) and the hat's attack keeps its level."""
    k = 2.0 * kick(RATE, seconds=0.8)
    h = 0.3 * hat(RATE, seed=2)
    at = int(0.15 * RATE)
    mix = k.copy()
    mix[at:at + h.size] += h
    window = mix[at:at + int(0.3 * RATE)].astype(np.float32)
    out = subtract_ring(mix[:at], window, RATE)
    assert out.shape == window.shape and out.dtype == np.float32
    n = int(0.1 * RATE)
    # the mix is mostly kick (correlation with the hat 0.33 when written); what is left is mostly hat (0.96)
    assert np.corrcoef(window[:n], h[:n])[0, 1] < 0.5 < 0.9 < np.corrcoef(out[:n], h[:n])[0, 1]
    assert np.sqrt(np.mean((out[:n] - h[:n]) ** 2)) < 0.2 * np.sqrt(np.mean((window[:n] - h[:n]) ** 2))
    low = np.fft.rfftfreq(n, 1 / RATE) < 150
    assert np.abs(np.fft.rfft(out[:n]))[low].sum() < 0.3 * np.abs(np.fft.rfft(window[:n]))[low].sum()
    attack = slice(0, int(0.01 * RATE))
    assert np.sqrt(np.mean(out[attack] ** 2)) > 0.7 * np.sqrt(np.mean(h[attack] ** 2))


def test_analyze_runs_it_by_default_and_the_option_or_the_config_turns_it_off(tmp_path):
    """`analyze` on a loop: --no-ring-subtraction and `ring_subtraction = false` in the config give the same table,
    the default another one (the same hits and levels, other descriptors); a non-boolean value is refused."""
    import csv
    import subprocess

    from realtime.loops import render_loop, write_loop
    from tests.jack_harness import DRUMTIMBRE

    wav, _ = write_loop(render_loop("groove16", 120, 4.0, 48000, seed=1, kit="synth"), tmp_path / "loop.wav")
    off_toml, bad_toml = tmp_path / "off.toml", tmp_path / "bad.toml"
    off_toml.write_text("ring_subtraction = false\n")
    bad_toml.write_text('ring_subtraction = "no"\n')

    def table(*extra: str) -> list[dict]:
        out = tmp_path / f"t{len(list(tmp_path.glob('t*.csv')))}.csv"
        p = subprocess.run(DRUMTIMBRE + ["analyze", str(wav), "-o", str(out), *extra], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(out, newline="") as f:
            return list(csv.DictReader(f))

    on, off, off_config = table(), table("--no-ring-subtraction"), table("--config", str(off_toml))
    assert off == off_config and len(on) == len(off) > 8
    assert [(r["onset_s"], r["peak_dbfs"]) for r in on] == [(r["onset_s"], r["peak_dbfs"]) for r in off]
    assert on != off
    p = subprocess.run(DRUMTIMBRE + ["analyze", str(wav), "--config", str(bad_toml)], capture_output=True, text=True)
    assert p.returncode == 2 and "ring_subtraction" in p.stderr


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_a_window_shorter_than_a_frame_the_early_one_comes_out_closer_to_the_hat_alone(rate):
    """The early window (3 ms pre-roll + 25 ms, shorter than the 32 ms frames) of a hat over a ringing kick, at the
    model's rate and at the input rate: the kick's ring mostly gone, the hat's level kept."""
    k = 2.0 * kick(rate, seconds=0.8)
    h = 0.3 * hat(rate, seed=3)
    at = int(0.15 * rate)
    mix = k.copy()
    mix[at:at + h.size] += h
    n = int(0.028 * rate)
    window = mix[at:at + n].astype(np.float32)
    out = subtract_ring(mix[:at], window, rate)
    assert out.shape == window.shape and out.dtype == np.float32

    def rms(x):
        return float(np.sqrt(np.mean(np.square(x))))

    assert rms(window - h[:n]) > 1.5 * rms(h[:n])  # as it sounds, the kick is louder than the hat
    assert rms(out - h[:n]) < 0.4 * rms(h[:n])
    assert np.corrcoef(out, h[:n])[0, 1] > 0.9
    assert 0.8 < rms(out) / rms(h[:n]) < 1.25
