"""bench/stk_kit.py: the Synthesis ToolKit's headerless drum waves as a kit the loop renderer reads."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from stk_kit import DRUMS, RATE, write_kit  # noqa: E402

from realtime.loops import load_kit  # noqa: E402


def test_raw_waves_are_read_as_big_endian_16_bit_at_22050_hz_under_names_the_renderer_reads(tmp_path):
    raw = tmp_path / "rawwaves"
    raw.mkdir()
    t = np.arange(int(0.2 * RATE)) / RATE
    rng = np.random.default_rng(0)
    written = {}
    for stem in DRUMS:
        pcm = (20000 * rng.standard_normal(t.size).clip(-1.5, 1.5) * np.exp(-t / 0.03)).astype(np.int16)
        pcm.astype(">i2").tofile(raw / f"{stem}.raw")  # big-endian, as STK ships them
        written[stem] = pcm
    kit = tmp_path / "kit"
    files = write_kit(raw, kit)
    assert sorted(p.name for p in files) == sorted(f"{name}.wav" for name, _ in DRUMS.values())
    for stem, (name, _) in DRUMS.items():
        data, rate = sf.read(kit / f"{name}.wav", dtype="int16")
        assert rate == RATE and np.array_equal(data, written[stem])
    shots = load_kit(kit, 48000)
    assert {"kick", "snare", "hat", "tom", "cymbal"} <= set(shots)
    (raw / "snardrum.raw").unlink()
    with pytest.raises(FileNotFoundError, match="snardrum.raw"):
        write_kit(raw, tmp_path / "other")
    assert not (tmp_path / "other").exists()
