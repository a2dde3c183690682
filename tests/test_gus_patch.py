"""GUS patch (.pat) reading: patches written here byte by byte, Debian's freepats drums, bad files."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder.gus_patch import PatchError, extract, read_patch
from encoder.recipe import FREEPATS_DRUMS


def _wave(x: np.ndarray, rate: int, bits: int, unsigned: bool, looped: bool) -> bytes:
    if bits == 16:
        q = np.round(x * 32767).astype(np.int32)
        raw = ((q + 32768).astype("<u2") if unsigned else q.astype("<i2")).tobytes()
    else:
        q = np.round(x * 127).astype(np.int32)
        raw = ((q + 128).astype(np.uint8) if unsigned else q.astype(np.int8)).tobytes()
    modes = (bits == 16) * 1 | unsigned * 2 | looped * 4
    head = bytearray(96)
    head[0:7] = b"wave\0\0\0"
    struct.pack_into("<IIIH", head, 8, len(raw), 0, len(raw), rate)
    head[55] = modes
    return bytes(head) + raw


def write_pat(path: Path, waves: list[bytes]) -> None:
    """A GUS patch: 129-byte patch header, 63-byte instrument header, 47-byte layer header, waves."""
    patch = bytearray(129)
    patch[0:22] = b"GF1PATCH110\0ID#000002\0"
    patch[82], patch[83], patch[84] = 1, 14, 0
    struct.pack_into("<H", patch, 85, len(waves))
    inst = bytearray(63)
    inst[22] = 1
    layer = bytearray(47)
    layer[6] = len(waves)
    path.write_bytes(bytes(patch) + bytes(inst) + bytes(layer) + b"".join(waves))


def _hit(n: int, f0: float, rate: int) -> np.ndarray:
    t = np.arange(n) / rate
    return 0.9 * np.exp(-t / 0.04) * np.sin(2 * np.pi * f0 * t)


def test_waves_decode_in_every_sample_format(tmp_path):
    x = _hit(4000, 180, 22050)
    for bits, unsigned in ((16, False), (16, True), (8, False), (8, True)):
        pat = tmp_path / f"w{bits}{unsigned}.pat"
        write_pat(pat, [_wave(x, 22050, bits, unsigned, False)])
        (w,) = read_patch(pat)
        assert w.sample_rate == 22050 and not w.looped and w.samples.size == x.size
        np.testing.assert_allclose(w.samples, x, atol=1.5 / (32768 if bits == 16 else 128))


def test_extract_takes_the_first_unlooped_wave_and_skips_what_is_no_one_shot(tmp_path):
    drums = tmp_path / "Drum_000"
    drums.mkdir()
    loop, hit = _hit(3000, 400, 32000), _hit(6000, 90, 32000)
    write_pat(drums / "035_Kick.pat", [_wave(loop, 32000, 16, False, True), _wave(hit, 32000, 16, False, False)])
    write_pat(drums / "071_Whistle.pat", [_wave(loop, 32000, 16, False, True)])  # looped only
    write_pat(drums / "032_Click.pat", [_wave(_hit(100, 2000, 44100), 44100, 16, False, False)])  # 2 ms
    (drums / "not_a.pat").write_bytes(b"RIFF" + b"\0" * 300)
    paths = extract(drums, tmp_path / "out")
    assert [p.name for p in paths] == ["035_Kick.wav"]
    y, rate = sf.read(paths[0])
    assert rate == 32000
    np.testing.assert_allclose(y, hit, atol=2 / 32768)


def test_bad_patches_are_refused_by_name(tmp_path):
    wav = tmp_path / "kick.wav"
    sf.write(wav, _hit(2000, 60, 16000), 16000)
    with pytest.raises(PatchError, match="kick.wav: not a GUS patch"):
        read_patch(wav)
    good = tmp_path / "good.pat"
    write_pat(good, [_wave(_hit(4000, 60, 16000), 16000, 16, False, False)])
    cut = tmp_path / "cut.pat"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(PatchError, match="cut.pat: wave 0 is cut short"):
        read_patch(cut)


def test_debian_freepats_drums_are_decaying_hits(tmp_path):
    if not FREEPATS_DRUMS.is_dir():
        pytest.skip(f"{FREEPATS_DRUMS} absent: install the Debian package freepats (scripts/setup.sh does)")
    kick = read_patch(FREEPATS_DRUMS / "035_Kick_1.pat")[0]
    assert not kick.looped and kick.sample_rate == 22050
    rms = [float(np.sqrt(np.mean(s ** 2))) for s in np.array_split(kick.samples, 8)]
    assert rms[0] > 10 * rms[-1] and abs(float(kick.samples.mean())) < 0.02  # decays; signed PCM read as such
    paths = extract(FREEPATS_DRUMS, tmp_path)
    assert len(paths) > 40 and not any("Snare_Roll" in p.name for p in paths)  # the roll is a looped wave
