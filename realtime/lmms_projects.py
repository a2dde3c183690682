"""The drum parts of LMMS projects (.mmp, .mmpz), as realtime.songs.Song for its renderer.

LMMS (Debian `lmms-common`) installs about 25 demo projects whose authors
programmed drum samples in LMMS's sample player, AudioFileProcessor: dance,
reggaeton, breakbeat and rock parts at 87-200 bpm, mostly from LMMS's own
drum samples.  read_project keeps, of a project, every note an
AudioFileProcessor plays on a drum sample (realtime.loops.role_of of the
sample's or the track's name: kicks, snares, hats, toms, cymbals): in the
song's own tracks and in its beat+bassline tracks (each bar pattern repeated
over the length its clip plays).  Everything else is left out: synthesisers,
non-drum samples, DrumSynth presets (.ds: synthesised by LMMS, no audio file),
claps and pedal hats (realtime.songs.ILL_DEFINED), samples
played reversed or from a later start point, samples not installed, muted
tracks, patterns and clips, and the effects.  A note plays its sample as
recorded (no pitch), at the note's volume x the track's x the player's
amplification; tempo automation is ignored (the project's base tempo).  The
part starts at the bar of its first drum note.

LMMS counts 48 ticks a quarter note, as Hydrogen does, so the notes keep
their ticks; the exact truth comes from realtime.songs.render_song.
"""
from __future__ import annotations

import zlib
import xml.etree.ElementTree as ET
from pathlib import Path

from realtime.loops import AUDIO_SUFFIXES, role_of
from realtime.songs import ILL_DEFINED, LMMS_SUFFIXES, Instrument, Layer, Note, Song

LMMS_PROJECTS = Path("/usr/share/lmms/projects")
"""Where lmms-common installs its demo projects."""
LMMS_SAMPLES = Path("/usr/share/lmms/samples")
"""Where LMMS looks up a sample given by a relative path."""
TICKS_PER_BAR = 192
"""LMMS ticks per 4/4 bar (48 a quarter note)."""


def read_xml(path: str | Path) -> ET.Element:
    """The project's XML root; .mmpz is Qt's qCompress (a 4-byte length, then zlib).  ValueError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".mmpz":
            data = zlib.decompress(data[4:])
        root = ET.fromstring(data)
    except (OSError, zlib.error, ET.ParseError) as exc:
        raise ValueError(f"{path}: not a readable LMMS project ({exc})") from None
    if root.tag != "lmms-project" or root.find("song/trackcontainer") is None:
        raise ValueError(f"{path}: not an LMMS project (no <lmms-project> with a song)")
    return root


def _int(el: ET.Element, name: str, default: int = 0) -> int:
    try:
        return int(float(el.get(name, default)))
    except ValueError:
        return default


def _float(el: ET.Element, name: str, default: float) -> float:
    try:
        return float(el.get(name, default))
    except ValueError:
        return default


def _sample_file(src: str, project: Path) -> Path | None:
    """An AudioFileProcessor's `src` as an installed file: absolute, under LMMS_SAMPLES, or beside the project."""
    if not src:
        return None
    for cand in (Path(src), LMMS_SAMPLES / src, project.resolve().parent / src):
        if cand.is_absolute() and cand.is_file():
            return cand
    return None


def _drum(track: ET.Element, project: Path) -> Instrument | None:
    """An instrument track playing a drum sample in AudioFileProcessor, else None."""
    afp = track.find("instrumenttrack/instrument/audiofileprocessor")
    if afp is None:
        return None
    if _int(afp, "reversed") or _float(afp, "sframe", 0.0) > 0.0:
        return None
    file = _sample_file(afp.get("src", ""), project)
    name = f"{track.get('name', '')} ({Path(afp.get('src', '')).name})"
    if file is None or file.suffix.lower() not in AUDIO_SUFFIXES or any(w in name.lower() for w in ILL_DEFINED):
        return None
    if (role_of(file.stem) or role_of(track.get("name", ""))) is None:
        return None
    inst_track = track.find("instrumenttrack")
    gain = _float(inst_track, "vol", 100.0) / 100.0 * _float(afp, "amp", 100.0) / 100.0
    return Instrument(name, (Layer(file, 0.0, 1.0, 1.0),), gain, _int(track, "muted") == 1)


def _pattern_notes(pattern: ET.Element) -> list[tuple[int, float]]:
    """(tick within the pattern, velocity 0-1) of each note (LMMS's volume 0-200 %, over 100 % kept at 1)."""
    return [(_int(n, "pos"), min(_float(n, "vol", 100.0) / 100.0, 1.0)) for n in pattern.findall("note")]


def _clips(track: ET.Element) -> list[tuple[int, int]]:
    """(position, length) ticks of a beat+bassline track's unmuted clips (bbtco; bbclip in newer LMMS)."""
    return [(_int(c, "pos"), _int(c, "len")) for c in track if c.tag in ("bbtco", "bbclip") and not _int(c, "muted")]


def read_project(path: str | Path) -> Song:
    """The drum part of an LMMS project (see the module's docstring); ValueError naming the file when it cannot be
    read or plays no drum sample this reader keeps."""
    path = Path(path)
    root = read_xml(path)
    head = root.find("head")
    bpm = _float(head, "bpm", 0.0) if head is not None else 0.0
    if not bpm > 0 and head is not None and head.find("bpm") is not None:
        bpm = _float(head.find("bpm"), "value", 120.0)
    bpm = bpm if bpm > 0 else 120.0
    song_tracks = list(root.find("song/trackcontainer"))
    instruments: dict[str, Instrument] = {}
    notes: list[Note] = []
    for k, track in enumerate(song_tracks):  # the song editor's own instrument tracks
        inst = _drum(track, path) if track.get("type") == "0" else None
        if inst is None or inst.muted:
            continue
        instruments[f"s{k}"] = inst
        for pat in track.findall("pattern"):
            if not _int(pat, "muted"):
                notes += [Note(_int(pat, "pos") + t, v, f"s{k}", 1.0) for t, v in _pattern_notes(pat)]
    bb_tracks = [t for t in song_tracks if t.get("type") == "1"]
    container = next((c for t in bb_tracks for c in t.findall("bbtrack/trackcontainer")), None)
    inner = list(container) if container is not None else []
    # beat+bassline i: the pattern at i x TICKS_PER_BAR in every inner track; it repeats every bar_len[i] ticks
    patterns: dict[tuple[int, int], ET.Element] = {}
    bar_len: dict[int, int] = {}
    for j, track in enumerate(inner):
        for pat in track.findall("pattern"):
            i = _int(pat, "pos") // TICKS_PER_BAR
            patterns[(j, i)] = pat
            length = _int(pat, "len") or 12 * _int(pat, "steps", 16)
            bar_len[i] = max(bar_len.get(i, TICKS_PER_BAR), length)
    for j, track in enumerate(inner):
        inst = _drum(track, path) if track.get("type") == "0" else None
        if inst is None or inst.muted:
            continue
        instruments[f"b{j}"] = inst
        for i, bb in enumerate(bb_tracks):
            pat = patterns.get((j, i))
            if pat is None or _int(pat, "muted") or _int(bb, "muted"):
                continue
            cycle = bar_len.get(i, TICKS_PER_BAR)
            ticks = [(t, v) for t, v in _pattern_notes(pat) if 0 <= t < cycle]
            for pos, length in _clips(bb):
                for start in range(0, max(length, 0), cycle):
                    notes += [Note(pos + start + t, v, f"b{j}", 1.0) for t, v in ticks if start + t < length]
    if not notes:
        raise ValueError(f"{path}: the project plays no drum sample that can be rendered (installed, forwards, "
                         "named as a kick, snare, hat, tom or cymbal)")
    notes.sort(key=lambda n: n.tick)
    played = {n.instrument for n in notes}
    instruments = {k: v for k, v in instruments.items() if k in played}
    # the part starts at the bar of its first drum note (many projects open with bars of synthesisers alone)
    lead = notes[0].tick // TICKS_PER_BAR * TICKS_PER_BAR
    notes = [Note(n.tick - lead, n.velocity, n.instrument, n.probability) for n in notes]
    return Song(path.stem, bpm, 0.0, 0.0, 0.0, instruments, tuple(notes), notes[-1].tick + TICKS_PER_BAR)


def demo_projects(folder: Path = LMMS_PROJECTS, min_notes: int = 50) -> list[Path]:
    """The installed LMMS projects whose drum part (read_project) has at least `min_notes` notes, sorted by name."""
    found = []
    for path in (p for p in folder.rglob("*") if p.suffix.lower() in LMMS_SUFFIXES) if folder.is_dir() else ():
        try:
            if len(read_project(path).notes) >= min_notes:
                found.append(path)
        except ValueError:
            continue
    return sorted(found, key=lambda p: p.name.lower())
