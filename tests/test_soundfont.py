"""SoundFont 2 drum-kit extraction: a SoundFont written here byte by byte, Debian's GM SoundFonts, bad files."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder.recipe import DRUM_SOUNDFONTS, SONIC_PI_SAMPLES, SOUNDFONTS, extra_kit_files
from encoder.soundfont import SoundFontError, drum_samples, extract

SR = 44100


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(s: str) -> bytes:
    return s.encode().ljust(20, b"\0")


def write_sf2(path: Path, recordings: dict[str, np.ndarray], presets: list[tuple[str, int, list[int]]],
              instruments: list[tuple[str, list[tuple[int, int]]]], types: dict[str, int] | None = None) -> None:
    """A minimal SoundFont 2: `presets` (name, bank, instrument ids), `instruments` (name, zones of
    (sample id, sampleModes) or (sample id, sampleModes, (lowest key, highest key))), recordings in order as
    16-bit PCM with the 46 zero frames the format asks for."""
    types = types or {}
    pcm, shdr = b"", b""
    for name, x in recordings.items():
        start = len(pcm) // 2
        pcm += (np.round(x * 32767).astype("<i2")).tobytes() + b"\0" * 92
        end = start + len(x)
        shdr += struct.pack("<20sIIIIIBbHH", _name(name), start, end, start, end, SR, 60, 0, 0,
                            types.get(name, 1))
    shdr += struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    phdr, pbag, pgen = b"", b"", b""
    n_bag = n_gen = 0
    for i, (name, bank, insts) in enumerate(presets):
        phdr += struct.pack("<20sHHHIII", _name(name), i, bank, n_bag, 0, 0, 0)
        for inst in insts:
            pbag += struct.pack("<HH", n_gen, 0)
            pgen += struct.pack("<HH", 41, inst)
            n_bag, n_gen = n_bag + 1, n_gen + 1
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, n_bag, 0, 0, 0)
    pbag += struct.pack("<HH", n_gen, 0)
    pgen += struct.pack("<HH", 0, 0)
    inst_b, ibag, igen = b"", b"", b""
    n_bag = n_gen = 0
    for name, zones in instruments:
        inst_b += struct.pack("<20sH", _name(name), n_bag)
        for sample_id, modes, *keys in zones:
            ibag += struct.pack("<HH", n_gen, 0)
            if keys:  # keyRange must come first in a zone (section 8.1.2)
                igen += struct.pack("<HBB", 43, *keys[0])
                n_gen += 1
            igen += struct.pack("<HH", 54, modes) + struct.pack("<HH", 53, sample_id)
            n_bag, n_gen = n_bag + 1, n_gen + 2
    inst_b += struct.pack("<20sH", _name("EOI"), n_bag)
    ibag += struct.pack("<HH", n_gen, 0)
    igen += struct.pack("<HH", 0, 0)
    body = b"sfbk" + _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1))) + _list(b"sdta", _chunk(b"smpl", pcm))
    body += _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", b"\0" * 10),
                  _chunk(b"pgen", pgen), _chunk(b"inst", inst_b), _chunk(b"ibag", ibag),
                  _chunk(b"imod", b"\0" * 10), _chunk(b"igen", igen), _chunk(b"shdr", shdr))
    path.write_bytes(_chunk(b"RIFF", body))


def _decay(f0: float, seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (0.8 * np.exp(-t / 0.05) * (np.sin(2 * np.pi * f0 * t) + 0.3 * rng.standard_normal(t.size))).clip(-1, 1)


def test_drum_kits_recordings_once_each_without_loops_right_channels_or_melodic_presets(tmp_path):
    rec = {"kick": _decay(60, 0.4, 0), "snare L": _decay(200, 0.3, 1), "snare R": _decay(200, 0.3, 2),
           "pad loop": _decay(300, 0.2, 3), "piano": _decay(440, 0.5, 4), "tick": _decay(2000, 0.01, 5),
           "room kick": _decay(50, 0.5, 6)}
    ids = {name: i for i, name in enumerate(rec)}
    instruments = [
        ("std drums", [(ids["kick"], 0, (35, 36)), (ids["snare L"], 0, (38, 38)), (ids["snare R"], 0, (38, 38)),
                       (ids["pad loop"], 1), (ids["tick"], 0)]),
        ("piano", [(ids["piano"], 0)]),
        ("room drums", [(ids["kick"], 0, (36, 36)), (ids["room kick"], 0)]),
    ]
    presets = [("Piano", 0, [1]), ("Room", 128, [2]), ("Standard", 128, [0])]  # Room is program 1, Standard 2
    sf2 = tmp_path / "Tiny GM.sf2"
    write_sf2(sf2, rec, presets, instruments, types={"snare L": 4, "snare R": 2})
    samples, _ = drum_samples(sf2)
    # kits in program order: Room first claims the kick; the looped pad, the right channel, the
    # 10 ms tick and the piano (bank 0) are left out
    assert [(s.name, s.kit) for s in samples] == [("kick", "Room"), ("room kick", "Room"), ("snare L", "Standard")]
    assert [s.keys for s in samples] == [(36, 36), (0, 127), (38, 38)]  # the zone that plays it first; no range: all
    paths = extract(sf2, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in paths] == [
        "Tiny_GM/Room/0000_kick.wav", "Tiny_GM/Room/0006_room_kick.wav", "Tiny_GM/Standard/0001_snare_L.wav"]
    x, rate = sf.read(paths[2])
    assert rate == SR
    np.testing.assert_allclose(x, np.round(rec["snare L"] * 32767) / 32768, atol=1e-9)
    mtime = paths[0].stat().st_mtime_ns
    assert extract(sf2, tmp_path / "out") == paths and paths[0].stat().st_mtime_ns == mtime  # kept, not rewritten


def test_files_that_are_not_soundfonts_are_refused_by_name(tmp_path):
    wav = tmp_path / "kick.wav"
    sf.write(wav, _decay(60, 0.2, 0), SR)
    with pytest.raises(SoundFontError, match="kick.wav: not a SoundFont 2"):
        drum_samples(wav)
    good = tmp_path / "good.sf2"
    write_sf2(good, {"kick": _decay(60, 0.2, 0)}, [("Standard", 128, [0])], [("drums", [(0, 0)])])
    cut = tmp_path / "cut.sf2"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SoundFontError, match="cut.sf2: chunk .* runs past the end"):
        drum_samples(cut)


def test_debian_general_midi_soundfonts_give_real_drum_kits(tmp_path):
    fluid = SOUNDFONTS[0]
    if not fluid.is_file():
        pytest.skip(f"{fluid} absent: install the Debian package fluid-soundfont-gm (scripts/setup.sh does)")
    samples, _ = drum_samples(fluid)
    kits = {s.kit for s in samples}
    assert {"Standard", "TR-808", "Power", "Brush", "Orchestra Kit"} <= kits
    assert len(samples) > 100 and len({s.index for s in samples}) == len(samples)
    assert all(s.sample_rate in (32000, 44100) and (s.end - s.start) / s.sample_rate >= 0.02 for s in samples)
    snare = next(s for s in samples if s.name == "Std Snr 1(L)")
    assert snare.kit == "Standard" and snare.keys[0] <= 38 <= snare.keys[1]  # General MIDI's acoustic snare


def test_extra_kits_are_grouped_by_kit_and_sample_family(tmp_path):
    if not (SOUNDFONTS[1].is_file() and SONIC_PI_SAMPLES.is_dir()):
        pytest.skip("timgm6mb-soundfont or sonic-pi-samples absent (scripts/setup.sh installs them)")
    files = extra_kit_files(tmp_path, soundfonts=(SOUNDFONTS[1],))
    groups = set(files.values())
    assert {"soundfont/TimGM6mb/Standard", "sonic-pi/bd", "sonic-pi/tabla"} <= groups
    assert not any(g.startswith("sonic-pi/") and g.split("/")[1] in ("ambi", "loop", "guit") for g in groups)
    bd = [f for f, g in files.items() if g == "sonic-pi/bd"]
    assert bd and all(f.name.startswith("bd_") for f in bd)
    assert all(f.is_file() for f in files)


def test_drum_only_soundfonts_have_their_kits_in_bank_0(tmp_path):
    rec = {"kick soft": _decay(60, 0.4, 0), "kick hard": _decay(60, 0.4, 1)}
    sf2 = tmp_path / "plugin kit.sf2"
    write_sf2(sf2, rec, [("4pc kit", 0, [0])], [("kit", [(0, 0), (1, 0)])])
    assert drum_samples(sf2)[0] == []  # no bank-128 preset: a GM reading finds no kit
    samples, _ = drum_samples(sf2, every_preset=True)
    assert [(s.name, s.kit) for s in samples] == [("kick soft", "4pc kit"), ("kick hard", "4pc kit")]
    red = DRUM_SOUNDFONTS[0]
    if not red.is_file():
        pytest.skip(f"{red} absent: install the Debian package avldrums.lv2-soundfont (scripts/setup.sh does)")
    samples, _ = drum_samples(red, every_preset=True)
    kicks = [s for s in samples if s.name.startswith("36-")]
    assert len(samples) > 100 and len(kicks) == 5  # five velocity layers of the kick
