"""bench/hydrogen_named_kit.py: a Hydrogen kit whose file names do not say the drum, read by instrument name."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from hydrogen_named_kit import instrument_files, write_kit  # noqa: E402

from realtime.loops import load_kit  # noqa: E402

NS = "http://www.hydrogen-music.org/drumkit"


def _kit(tmp_path: Path, instruments: list[tuple[str, list[str]]]) -> Path:
    """A kit folder with a namespaced drumkit.xml naming `instruments` (name, layer files) and a decaying noise
    burst in each file."""
    kit = tmp_path / "kit"
    kit.mkdir()
    rng = np.random.default_rng(0)
    parts = []
    for name, files in instruments:
        layers = "".join(f"<layer><filename>{f}</filename></layer>" for f in files)
        parts.append(f"<instrument><id>0</id><name>{name}</name><instrumentComponent>{layers}"
                     "</instrumentComponent></instrument>")
        for f in files:
            t = np.arange(4800) / 48000
            sf.write(kit / f, (rng.standard_normal(t.size) * np.exp(-t / 0.02) * 0.5).astype(np.float32), 48000)
    (kit / "drumkit.xml").write_text(f'<?xml version="1.0"?><drumkit_info xmlns="{NS}"><name>k</name>'
                                     f"<instrumentList>{''.join(parts)}</instrumentList></drumkit_info>")
    return kit


def test_roles_come_from_instrument_names(tmp_path: Path) -> None:
    kit = _kit(tmp_path, [("c3 - bass drum 1", ["beats_1.wav", "beats_2.wav"]), ("d3 - snare 1", ["beats_3.wav"]),
                          ("f#3 - hi-hat closed", ["beats_4.wav"]), ("g#3 - hi-hat pedal", ["beats_5.wav"]),
                          ("Hand Clap", ["beats_6.wav"]), ("Gone", ["gone.wav"])])
    (kit / "gone.wav").unlink()  # a layer whose file is missing is left out
    assert [(n, p.name) for n, p in instrument_files(kit)] == [
        ("c3 - bass drum 1", "beats_1.wav"), ("c3 - bass drum 1", "beats_2.wav"), ("d3 - snare 1", "beats_3.wav"),
        ("f#3 - hi-hat closed", "beats_4.wav"), ("g#3 - hi-hat pedal", "beats_5.wav"), ("Hand Clap", "beats_6.wav")]
    out = tmp_path / "named"
    assert write_kit(kit, out) == {"kick": 2, "snare": 1, "hat": 1}  # the pedal hat and the clap stay out
    assert sorted(p.name for p in out.iterdir()) == ["hat_01.wav", "kick_01.wav", "kick_02.wav", "snare_01.wav"]
    assert (out / "kick_02.wav").resolve() == (kit / "beats_2.wav").resolve()
    # realtime.loops reads the folder as a kit, which it could not from the original file names ("beats" is no drum)
    assert {role: len(shots) for role, shots in load_kit(str(out), 48000).items()} == {"kick": 2, "snare": 1, "hat": 1}


def test_a_kit_without_a_closed_hat_or_a_broken_xml_is_named(tmp_path: Path) -> None:
    kit = _kit(tmp_path, [("Kick", ["a.wav"]), ("Snare", ["b.wav"]), ("Pedal HH", ["c.wav"])])
    with pytest.raises(ValueError, match="no kick, snare and closed hat"):
        write_kit(kit, tmp_path / "named")
    assert not (tmp_path / "named").exists()
    (kit / "drumkit.xml").write_text("<drumkit_info><instrument>")
    with pytest.raises(ValueError, match="drumkit.xml: not a readable"):
        instrument_files(kit)
