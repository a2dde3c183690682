"""The drum parts of LMMS projects (realtime.lmms_projects), rendered by realtime.songs with exact truth."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtime.lmms_projects import LMMS_PROJECTS, demo_projects, read_project
from realtime.loops import LEAD_IN_S, _attack_index
from realtime.songs import read_song, render_song, song_path

RATE = 16000


def _shot(kind: str) -> np.ndarray:
    """5 ms of silence, then a decaying 60 Hz 'kick' or noise 'hat' (an instant attack)."""
    t = np.arange(int(0.2 * RATE)) / RATE
    body = np.sin(2 * np.pi * 60 * t) if kind == "kick" else np.random.default_rng(1).standard_normal(t.size)
    return np.concatenate([np.zeros(int(0.005 * RATE)), 0.8 * body * np.exp(-t / 0.04)])


def _afp(name: str, src: Path | str, notes: str, patterns_at=(0,), muted: int = 0, reversed_: int = 0,
         vol: int = 100, amp: int = 100) -> str:
    pats = "".join(f'<pattern pos="{p}" len="192" steps="16" muted="0">{notes if k == 0 else ""}</pattern>'
                   for k, p in enumerate(patterns_at))
    return (f'<track type="0" name="{name}" muted="{muted}"><instrumenttrack vol="{vol}" basenote="57">'
            f'<instrument name="audiofileprocessor"><audiofileprocessor src="{src}" amp="{amp}" reversed="{reversed_}" '
            f'sframe="0" eframe="1" looped="0"/></instrument></instrumenttrack>{pats}</track>')


def _note(pos: int, vol: int = 100) -> str:
    return f'<note pos="{pos}" len="-192" key="57" vol="{vol}"/>'


def _project(tmp_path: Path, compressed: bool = True) -> Path:
    """At 120 bpm: a song-editor kick track whose one pattern starts in bar 3 (two bars of no drums first), a
    beat+bassline hat pattern of one bar played by a clip two bars long in bar 3, and what must be left out: a
    muted track, a synthesiser, a reversed sample, a clap, a DrumSynth preset, a missing sample and a muted
    beat+bassline clip."""
    kick, hat, clap = tmp_path / "kick01.wav", tmp_path / "hihat_closed01.wav", tmp_path / "clap01.wav"
    sf.write(kick, _shot("kick"), RATE)
    sf.write(hat, _shot("hat"), RATE)
    sf.write(clap, _shot("hat"), RATE)
    ds = tmp_path / "kick.ds"
    ds.write_text("[General]\n")
    song_tracks = (
        _afp("Kick", kick, _note(0) + _note(96, 50), patterns_at=(384,), vol=50)
        + _afp("Kick muted", kick, _note(0), patterns_at=(384,), muted=1)
        + _afp("Kick backwards", kick, _note(48), patterns_at=(384,), reversed_=1)
        + _afp("Clap", clap, _note(48), patterns_at=(384,))
        + _afp("Synth kick", ds, _note(48), patterns_at=(384,))
        + _afp("Gone", tmp_path / "snare_not_here.wav", _note(48), patterns_at=(384,))
        + '<track type="0" name="Lead" muted="0"><instrumenttrack vol="100"><instrument name="tripleoscillator">'
          '<tripleoscillator/></instrument></instrumenttrack><pattern pos="0" len="192" muted="0">'
          + _note(0) + "</pattern></track>")
    # beat+bassline 0: hats on the quarter notes (the second one at 150 %, kept at 100 %); 1: a kick, only muted
    inner = _afp("Hat", hat, _note(0, 40) + _note(48, 150) + _note(96) + _note(144) + _note(200), patterns_at=(0, 192))
    inner_kick = _afp("BB kick", kick, "", patterns_at=(0,)).replace(
        '<pattern pos="0" len="192" steps="16" muted="0"></pattern>',
        '<pattern pos="0" len="192" steps="16" muted="0"></pattern>'
        f'<pattern pos="192" len="192" steps="16" muted="0">{_note(0)}</pattern>')
    bb = (f'<track type="1" name="Beat" muted="0"><bbtrack><trackcontainer type="bbtrackcontainer">{inner}{inner_kick}'
          '</trackcontainer></bbtrack><bbtco pos="384" len="384" muted="0"/><bbtco pos="1536" len="192" muted="1"/>'
          '</track><track type="1" name="Beat 2" muted="0"><bbtrack/><bbtco pos="384" len="192" muted="1"/></track>')
    xml = (f'<?xml version="1.0"?><lmms-project version="1.0" type="song"><head bpm="120" timesig_numerator="4"/>'
           f'<song><trackcontainer type="song">{song_tracks}{bb}</trackcontainer></song></lmms-project>').encode()
    path = tmp_path / ("part.mmpz" if compressed else "part.mmp")
    path.write_bytes(struct.pack(">I", len(xml)) + zlib.compress(xml) if compressed else xml)
    return path


@pytest.mark.parametrize("compressed", [True, False])
def test_the_drum_notes_and_only_those_are_read(tmp_path, compressed):
    song = read_project(_project(tmp_path, compressed))
    assert song.bpm == 120 and song.swing == 0 and song.humanize_time == 0
    names = sorted(inst.name for inst in song.instruments.values())
    assert names == ["Hat (hihat_closed01.wav)", "Kick (kick01.wav)"]
    by = {inst.name.split()[0]: key for key, inst in song.instruments.items()}
    kick = [(n.tick, n.velocity) for n in song.notes if n.instrument == by["Kick"]]
    hat = [(n.tick, n.velocity) for n in song.notes if n.instrument == by["Hat"]]
    # bar 3 became bar 1; the hat bar (its note at 200 is past the bar: not played) repeats over the 2-bar clip
    assert kick == [(0, 1.0), (96, 0.5)]
    assert hat == [(0, 0.4), (48, 1.0), (96, 1.0), (144, 1.0), (192, 0.4), (240, 1.0), (288, 1.0), (336, 1.0)]
    assert song.instruments[by["Kick"]].gain == pytest.approx(0.5)


def test_render_puts_each_note_at_its_tick_with_exact_truth(tmp_path):
    path = _project(tmp_path)
    song = read_song(path)  # read_song hands .mmpz to realtime.lmms_projects
    assert song == read_project(path)
    loop = render_song(song, RATE)
    tick_s = 60.0 / 120 / 48
    want = LEAD_IN_S + np.array([0, 48, 96, 144, 192, 240, 288, 336]) * tick_s  # the kick's two notes fall on hats
    assert np.allclose(loop.onsets, want, atol=1.0 / RATE)
    assert len(loop.hits) == 10
    # the audio really starts there: the first attack at the first true onset
    first = _attack_index(loop.audio[: int((LEAD_IN_S + 0.1) * RATE)])
    assert abs(first / RATE - want[0]) <= 2.0 / RATE


def test_bad_files_are_refused_with_their_name(tmp_path):
    bad = tmp_path / "broken.mmpz"
    bad.write_bytes(b"\x00\x00\x01\x00not zlib at all")
    with pytest.raises(ValueError, match="broken.mmpz"):
        read_project(bad)
    other = tmp_path / "other.mmp"
    other.write_text("<?xml version='1.0'?><song/>")
    with pytest.raises(ValueError, match="not an LMMS project"):
        read_project(other)
    synth_only = tmp_path / "synth.mmp"
    synth_only.write_text('<?xml version="1.0"?><lmms-project><head bpm="140"/><song><trackcontainer type="song">'
                          '<track type="0" name="Lead" muted="0"><instrumenttrack vol="100"><instrument '
                          'name="tripleoscillator"/></instrumenttrack><pattern pos="0"><note pos="0" vol="100"/>'
                          '</pattern></track></trackcontainer></song></lmms-project>')
    with pytest.raises(ValueError, match="plays no drum sample"):
        read_project(synth_only)


@pytest.mark.skipif(not LMMS_PROJECTS.is_dir(), reason="LMMS demo projects not installed (apt-get install lmms-common)")
def test_the_installed_demo_projects_render_on_their_own_samples():
    projects = demo_projects()
    assert len(projects) >= 10, projects
    assert song_path(projects[0].stem) == projects[0]
    for path in projects[:3]:
        song = read_project(path)
        assert song.notes[0].tick < 192 and song.bpm > 0
        loop = render_song(song, RATE, max_seconds=10.0)
        assert len(loop.onsets) >= 5
        assert all(Path(h.file).suffix.lower() in (".ogg", ".wav", ".flac") for h in loop.hits)


def test_a_sample_beside_a_project_given_by_a_relative_path_is_found(tmp_path, monkeypatch):
    """`src` relative to the project's folder, the project named relative to the working directory."""
    sf.write(tmp_path / "kick01.wav", _shot("kick"), RATE)
    xml = ('<?xml version="1.0"?><lmms-project><head bpm="100"/><song><trackcontainer type="song">'
           + _afp("Kick", "kick01.wav", _note(0) + _note(96)) + "</trackcontainer></song></lmms-project>")
    (tmp_path / "beside.mmp").write_text(xml)
    monkeypatch.chdir(tmp_path.parent)
    song = read_project(Path(tmp_path.name) / "beside.mmp")
    assert [n.tick for n in song.notes] == [0, 96]
    assert [inst.layers[0].file for inst in song.instruments.values()] == [tmp_path / "kick01.wav"]
