"""Drum parts written by people: Hydrogen songs (.h2song) rendered with exact ground-truth onsets.

The loops of realtime/loops.py follow patterns generated here; a Hydrogen song's
patterns were written by a person, with their own velocities (ghost notes
included), swing and humanisation.  read_song parses the song (tempo, swing,
humanisation, the instruments and their velocity layers, the pattern sequence);
render_song plays it, either with the kit it was written for (each note picks
its instrument's layer by velocity, as Hydrogen does) or with another kit, each
instrument mapped to that kit's one-shots by its drum role.

Timing follows Hydrogen 1.x: 48 ticks per quarter note; swing delays the
off-beat 16ths by swing_factor x a 32nd; humanize_time adds a Gaussian offset of
standard deviation 0.3 x humanize_time x 2000 frames at 44.1 kHz (45 ms at
most); humanize_velocity adds a Gaussian of 0.2 x humanize_velocity to the
velocity.  A note's gain is velocity x layer gain x instrument gain x volume
(linear); pan, pitch, lead/lag, ADSR and effects are not rendered (the demo
songs use none of them, bar pan).

The ground truth is that of realtime/loops.py: each note's time is the attack
start of its one-shot, exact to the sample, and notes closer than MERGE_S are
one onset.  Instruments whose onset is ill-defined are left out of the render:
claps and hi-hat pedals (by name), and samples that rise slowly or attack twice
(load_oneshot).

read_song also reads the drum part of an LMMS project (.mmp / .mmpz; the demo
projects of lmms-common): see realtime/lmms_projects.py.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.loops import (HYDROGEN_KITS, LEAD_IN_S, Hit, Loop, OneShot, add_shot, load_kit, load_oneshot,
                            merge_close, role_of, role_pool)

LMMS_SUFFIXES = (".mmp", ".mmpz")
"""LMMS project files, which read_song reads with realtime.lmms_projects."""
DEMO_SONGS = (Path("/usr/share/hydrogen/data/demo_songs"), HYDROGEN_KITS)
"""Where hydrogen-data installs its demo songs (and a kit folder that ships its own demo)."""
USER_KITS = Path.home() / ".hydrogen" / "data" / "drumkits"
"""Where Hydrogen installs a user's own drum kits."""
TICKS_PER_QUARTER = 48
HUMANIZE_MAX_S = 2000 / 44100
"""Hydrogen's largest humanisation offset, s (2000 frames at 44.1 kHz)."""
ILL_DEFINED = ("clap", "pedal", "foot")
"""Instruments left out of the render by name: several bursts, or a slow "chick"."""


@dataclass(frozen=True)
class Layer:
    """One velocity layer of an instrument."""

    file: Path
    low: float
    """Lowest velocity (0-1) that plays this layer."""
    high: float
    gain: float


@dataclass(frozen=True)
class Instrument:
    name: str
    layers: tuple[Layer, ...]
    gain: float
    """The instrument's gain x volume (linear)."""
    muted: bool


@dataclass(frozen=True)
class Note:
    tick: int
    """Position from the song's start, ticks (48 per quarter note)."""
    velocity: float
    """0-1."""
    instrument: str
    """Instrument id."""
    probability: float


@dataclass(frozen=True)
class Song:
    name: str
    bpm: float
    swing: float
    """Hydrogen's swing factor, 0-1."""
    humanize_time: float
    humanize_velocity: float
    instruments: dict[str, Instrument]
    notes: tuple[Note, ...]
    """Every note of the pattern sequence in order of time."""
    ticks: int
    """Length of the pattern sequence, ticks."""

    @property
    def tick_s(self) -> float:
        """Length of a tick, s."""
        return 60.0 / self.bpm / TICKS_PER_QUARTER

    @property
    def seconds(self) -> float:
        return self.ticks * self.tick_s


def demo_songs(lmms: bool = False) -> list[Path]:
    """The installed Hydrogen demo songs (hydrogen-data), sorted by name; with `lmms`, the installed LMMS demo
    projects with a drum part instead (lmms-common; realtime.lmms_projects.demo_projects)."""
    if lmms:
        from realtime.lmms_projects import demo_projects
        return demo_projects()
    found = []
    for folder in DEMO_SONGS:
        if folder.is_dir():
            found += folder.glob("*.h2song") if folder != HYDROGEN_KITS else folder.glob("*/*.h2song")
    return sorted(found, key=lambda p: p.name.lower())


def song_path(name: str | Path) -> Path:
    """An installed demo song's file by its name (the file name without .h2song; or an LMMS demo project's without
    .mmp / .mmpz), else `name` as a path."""
    found = next((p for p in demo_songs() if p.stem == str(name)), None)
    if found is None and not Path(name).suffix:
        found = next((p for p in demo_songs(lmms=True) if p.stem == str(name)), None)
    return found or Path(name)


def _float(el: ET.Element, tag: str, default: float) -> float:
    text = el.findtext(tag)
    return float(text) if text not in (None, "") else default


def read_song(path: str | Path, kits: Path = HYDROGEN_KITS) -> Song:
    """Parse a Hydrogen song (or the drum part of an LMMS project, .mmp / .mmpz: realtime.lmms_projects); its layers' files are looked up in `kits`/<drumkit>, or in USER_KITS/<drumkit> when
    only a user installed that kit (ValueError naming the file when the song cannot be read)."""
    path = Path(path)
    if path.suffix.lower() in LMMS_SUFFIXES:  # an LMMS project: its drum part
        from realtime.lmms_projects import read_project
        return read_project(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"{path}: not a readable Hydrogen song ({exc})") from None
    if root.tag != "song" or root.find("instrumentList") is None or root.find("patternList") is None:
        raise ValueError(f"{path}: not a Hydrogen song (no <song> with instruments and patterns)")
    instruments = {}
    for el in root.find("instrumentList"):
        folder = kits / (el.findtext("drumkit") or "")
        if not folder.is_dir() and (USER_KITS / folder.name).is_dir():
            folder = USER_KITS / folder.name
        layers = tuple(Layer(folder / lay.findtext("filename", ""), _float(lay, "min", 0.0), _float(lay, "max", 1.0),
                             _float(lay, "gain", 1.0))
                       for lay in el.iter("layer") if lay.findtext("filename"))
        instruments[el.findtext("id", "")] = Instrument(
            el.findtext("name", ""), layers, _float(el, "gain", 1.0) * _float(el, "volume", 1.0),
            el.findtext("isMuted") == "true")
    patterns = {}
    for pat in root.find("patternList"):
        notes = [Note(int(n.findtext("position", "0")), _float(n, "velocity", 0.8), n.findtext("instrument", ""),
                      _float(n, "probability", 1.0))
                 for n in pat.iter("note") if n.findtext("note_off") != "true"]
        patterns[pat.findtext("name", "")] = (int(pat.findtext("size", "192")), notes)
    notes: list[Note] = []
    tick = 0
    for group in root.find("patternSequence") if root.find("patternSequence") is not None else ():
        ids = [p.text for p in group.findall("patternID") if p.text in patterns]
        for pid in ids:
            notes += [Note(tick + n.tick, n.velocity, n.instrument, n.probability) for n in patterns[pid][1]]
        tick += max((patterns[pid][0] for pid in ids), default=0)
    if not notes:
        raise ValueError(f"{path}: the song's pattern sequence plays no note")
    return Song(root.findtext("name") or path.stem, _float(root, "bpm", 120.0), _float(root, "swing_factor", 0.0),
                _float(root, "humanize_time", 0.0), _float(root, "humanize_velocity", 0.0), instruments,
                tuple(sorted(notes, key=lambda n: n.tick)), tick)


def _layer(inst: Instrument, velocity: float) -> Layer | None:
    """The layer Hydrogen plays for `velocity` (0-1): the one whose range holds it, else the nearest."""
    if not inst.layers:
        return None
    for lay in inst.layers:
        if lay.low <= velocity <= lay.high:
            return lay
    return min(inst.layers, key=lambda lay: min(abs(velocity - lay.low), abs(velocity - lay.high)))


def note_time(song: Song, note: Note, rng: np.random.Generator | None = None) -> float:
    """When `note` sounds, s from the song's start: its tick, swing, and (with `rng`) humanisation."""
    t = note.tick * song.tick_s
    sixteenth = TICKS_PER_QUARTER // 4
    if song.swing > 0 and note.tick % sixteenth == 0 and note.tick % (2 * sixteenth) != 0:
        t += song.swing * (sixteenth // 2) * song.tick_s
    if rng is not None and song.humanize_time > 0:
        t += rng.normal(0.0, 0.3) * song.humanize_time * HUMANIZE_MAX_S
    return t


def render_song(song: Song, sample_rate: int = 48000, seed: int = 0, kit: str | Path | None = None,
                max_seconds: float | None = None) -> Loop:
    """Render `song` (mono, peak 0.9, LEAD_IN_S of silence first) with its own kit, or with `kit` (a hydrogen kit
    name, 'lmms' or a folder: each instrument mapped to that kit's one-shots by role); `max_seconds` cuts it
    (s).  `seed` drives humanisation and the choice among a role's one-shots."""
    rng = np.random.default_rng(seed)
    own: dict[Path, OneShot | None] = {}
    shots = load_kit(kit, sample_rate) if kit is not None else None
    length = song.seconds + 2.0 if max_seconds is None else min(song.seconds + 2.0, max_seconds)
    total = int(round((LEAD_IN_S + length) * sample_rate))
    audio = np.zeros(total, dtype=np.float64)
    hits: list[Hit] = []
    past_end = 0  # notes after the cut (or too close to it to sound)
    for note in song.notes:
        inst = song.instruments.get(note.instrument)
        t = note_time(song, note, rng)
        velocity = float(np.clip(note.velocity + rng.normal(0.0, 0.2) * song.humanize_velocity, 0.0, 1.0))
        if note.probability < 1.0 and rng.random() >= note.probability:
            continue
        if inst is None or inst.muted or any(w in inst.name.lower() for w in ILL_DEFINED):
            continue
        if shots is None:
            lay = _layer(inst, velocity)
            if lay is None:
                continue
            if lay.file not in own:
                if not lay.file.is_file():
                    raise ValueError(f"song {song.name!r}: instrument {inst.name!r} plays {lay.file}, which is not "
                                     "there (is its kit installed?)")
                own[lay.file] = load_oneshot(lay.file, sample_rate, role_of(inst.name) or "other")
            shot, gain = own[lay.file], velocity * lay.gain * inst.gain
        else:
            role = "ride" if "ride" in inst.name.lower() else role_of(inst.name)
            pool = role_pool(shots, role) if role else ()
            shot = pool[int(rng.integers(len(pool)))] if pool else None
            gain = velocity * inst.gain
        if shot is None or gain <= 0:
            continue
        at = int(round((LEAD_IN_S + max(t, 0.0)) * sample_rate))
        if at - shot.attack < 0 or at >= total - int(0.05 * sample_rate):
            past_end += at >= total - int(0.05 * sample_rate)
            continue
        gain_db = 20 * np.log10(gain)
        add_shot(audio, shot, at, gain_db)
        hits.append(Hit(at / sample_rate, shot.file, float(gain_db), shot.role))
    if not hits:
        if past_end:
            raise ValueError(f"song {song.name!r}: no drum note in its first {length:g} s")
        raise ValueError(f"song {song.name!r}: no note could be rendered (every instrument played is left out)")
    hits.sort(key=lambda h: h.time)
    audio = (audio * (0.9 / (float(np.max(np.abs(audio))) or 1.0))).astype(np.float32)
    return Loop(audio, int(sample_rate), merge_close(np.array([h.time for h in hits])), hits)


def main(argv: list[str] | None = None) -> int:
    """`python -m realtime.songs OUT.flac --song NAME`: render a Hydrogen song (or an LMMS project's drum part) with its
    true onsets (OUT.txt)."""
    import argparse

    from realtime.loops import write_loop

    p = argparse.ArgumentParser(prog="python -m realtime.songs", description=main.__doc__)
    p.add_argument("out", nargs="?", help="audio file to write (.wav or .flac); onsets go to the same name with .txt")
    p.add_argument("--song", help="an installed demo song's or LMMS demo project's name (see --list), or a .h2song, "
                                  ".mmp or .mmpz file")
    p.add_argument("--list", action="store_true",
                   help="list the installed Hydrogen demo songs and LMMS demo projects with a drum part, and exit")
    p.add_argument("--kit", default=None,
                   help="play it on this kit (a hydrogen kit name, 'lmms', a folder or 'synth'; instruments mapped by "
                        "drum role) instead of the kit it was written for")
    p.add_argument("--seconds", type=float, default=None, help="cut the song to this many seconds (default: whole)")
    p.add_argument("--seed", type=int, default=0, help="seed of the humanisation")
    p.add_argument("--rate", type=int, default=48000, help="sample rate, Hz")
    args = p.parse_args(argv)
    if args.list:
        for path in demo_songs() + demo_songs(lmms=True):
            song = read_song(path)
            print(f"{path.stem}: {song.name}, {song.bpm:g} bpm, {song.seconds:.0f} s ({path})")
        return 0
    if not args.out or not args.song:
        p.error("give OUT and --song (--list shows the installed songs)")
    try:
        song = read_song(song_path(args.song))
        loop = render_song(song, args.rate, args.seed, args.kit, args.seconds)
    except ValueError as exc:
        p.error(str(exc))
    audio_path, txt = write_loop(loop, args.out)
    print(f"{audio_path}: {song.name}, {len(loop.onsets)} onsets ({len(loop.hits)} hits), "
          f"{loop.audio.size / args.rate:.1f} s; true onsets in {txt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
