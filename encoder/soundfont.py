"""Percussion one-shots out of SoundFont 2 files (General MIDI drum kits).

A SoundFont keeps its recordings as raw 16-bit PCM (`sdta/smpl`) and says
which of them each preset plays (`pdta`: preset -> instrument zones -> sample
headers).  The drum kits of a General MIDI SoundFont are its presets in bank
128; a drum-only SoundFont (a drum plugin's kit) has them in bank 0.  `drum_samples` walks that chain and returns each recording a drum kit
plays, once, with the kit that first plays it; `extract` writes them as WAV
files at their own sample rate, one folder per kit, ready for the labeller.

Recordings a kit plays looped (a sustained loop stands for a longer sound that
was never recorded whole) and very short ones are left out: neither is a real
one-shot.  Only the recording is taken, not what the SoundFont's envelopes and
filters would make of it.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PERCUSSION_BANK = 128
"""General MIDI: the drum kits are the presets of this bank."""
MIN_SECONDS = 0.02
"""Recordings shorter than this (s) are no one-shot."""

# generator operators (SoundFont 2.04, section 8.1.2)
_GEN_INSTRUMENT = 41
_GEN_KEY_RANGE = 43
_GEN_SAMPLE_ID = 53
_GEN_SAMPLE_MODES = 54
# sample types (section 7.10): 1 mono, 2 right, 4 left; 0x8000 = ROM
_RIGHT = 2
_ROM = 0x8000


class SoundFontError(ValueError):
    """A file that is not a SoundFont 2 this module can read; the message names the file."""


@dataclass(frozen=True)
class DrumSample:
    """One recording a drum kit plays."""

    index: int
    """Position in the file's sample headers."""
    name: str
    kit: str
    """Name of the first drum-kit preset that plays it."""
    start: int
    """First and one-past-last frame in the file's sample data."""
    end: int
    sample_rate: int
    """Hz."""
    keys: tuple[int, int] = (0, 127)
    """MIDI keys (lowest, highest) of the instrument zone that plays it first: in a General MIDI kit the
    drum (36 bass drum, 38 snare, 42 closed hat, ...), whatever the recording's name."""


def _chunks(data: bytes, start: int, end: int, path: Path) -> dict[str, tuple[int, int]]:
    """RIFF sub-chunks between start and end -> {id: (data offset, size)}; LISTs keyed by their type."""
    out: dict[str, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        cid = data[pos:pos + 4].decode("latin-1")
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if body + size > len(data):
            raise SoundFontError(f"{path}: chunk {cid!r} at byte {pos} runs past the end of the file")
        if cid == "LIST":
            out[data[body:body + 4].decode("latin-1")] = (body + 4, size - 4)
        else:
            out[cid] = (body, size)
        pos = body + size + (size & 1)
    return out


def _records(data: bytes, chunk: tuple[int, int], fmt: str) -> list[tuple]:
    off, size = chunk
    n = struct.calcsize(fmt)
    return [struct.unpack_from(fmt, data, off + i * n) for i in range(size // n)]


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def drum_samples(path: str | Path, every_preset: bool = False) -> tuple[list[DrumSample], np.ndarray]:
    """The recordings the drum kits (bank 128) of a .sf2 file play, once each -> (samples, the file's
    16-bit sample data, which a sample's start:end indexes).

    `every_preset`: a drum-only SoundFont (one whose kits sit in bank 0, as drum plugins ship them):
    every preset is a kit.  Raises SoundFontError naming the file when it is no SoundFont 2.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError(f"{path}: not a SoundFont 2 file (no RIFF 'sfbk' header)")
    top = _chunks(data, 12, len(data), path)
    if "sdta" not in top or "pdta" not in top:
        raise SoundFontError(f"{path}: SoundFont without sample data or preset data")
    sdta = _chunks(data, *_span(top["sdta"]), path)
    pdta = _chunks(data, *_span(top["pdta"]), path)
    need = ("phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr")
    missing = [c for c in need if c not in pdta]
    if "smpl" not in sdta or missing:
        raise SoundFontError(f"{path}: SoundFont lacks {', '.join(missing + ([] if 'smpl' in sdta else ['smpl']))}")
    phdr = _records(data, pdta["phdr"], "<20sHHHIII")
    pbag = _records(data, pdta["pbag"], "<HH")
    pgen = _records(data, pdta["pgen"], "<HH")
    inst = _records(data, pdta["inst"], "<20sH")
    ibag = _records(data, pdta["ibag"], "<HH")
    igen = _records(data, pdta["igen"], "<HH")
    shdr = _records(data, pdta["shdr"], "<20sIIIIIBbHH")
    smpl_off, smpl_size = sdta["smpl"]
    pcm = np.frombuffer(data, dtype="<i2", count=smpl_size // 2, offset=smpl_off)

    def gens(bags, gen, b):  # generators of zone b -> {oper: amount}
        return {op: amt for op, amt in gen[bags[b][0]:bags[b + 1][0]]}

    kits = sorted((i for i, h in enumerate(phdr[:-1]) if every_preset or h[2] == PERCUSSION_BANK),
                  key=lambda i: (phdr[i][2], phdr[i][1], _name(phdr[i][0])))
    seen: set[int] = set()
    out: list[DrumSample] = []
    for i in kits:
        kit = _name(phdr[i][0])
        for pb in range(phdr[i][3], phdr[i + 1][3]):
            inst_id = gens(pbag, pgen, pb).get(_GEN_INSTRUMENT)
            if inst_id is None or inst_id >= len(inst) - 1:
                continue
            for ib in range(inst[inst_id][1], inst[inst_id + 1][1]):
                g = gens(ibag, igen, ib)
                s = g.get(_GEN_SAMPLE_ID)
                if s is None or s in seen or s >= len(shdr) - 1 or g.get(_GEN_SAMPLE_MODES, 0) & 1:
                    continue
                name, start, end, _, _, rate, _, _, _, stype = shdr[s]
                seen.add(s)
                if stype & _ROM or stype & _RIGHT or not 0 <= start < end <= pcm.size or rate <= 0:
                    continue
                if (end - start) / rate < MIN_SECONDS:
                    continue
                kr = g.get(_GEN_KEY_RANGE, 127 << 8)  # low byte the lowest key, high byte the highest
                out.append(DrumSample(s, _name(name), kit, int(start), int(end), int(rate), (kr & 0xFF, kr >> 8)))
    return out, pcm


def _span(chunk: tuple[int, int]) -> tuple[int, int]:
    return chunk[0], chunk[0] + chunk[1]


def safe_name(name: str) -> str:
    """`name` as a portable file-name part: runs of other characters than letters, digits, '_', '.', '-'
    become one '_'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "unnamed"


def extract(path: str | Path, out: str | Path, every_preset: bool = False) -> list[Path]:
    """Write the drum recordings of a .sf2 file (see `drum_samples`) as 16-bit WAVs -> their paths.

    Layout: `<out>/<file stem>/<kit>/<sample index>_<sample name>.wav`, at the recording's own rate;
    files already there are kept (the extraction is deterministic).
    """
    import soundfile as sf

    path, out = Path(path), Path(out)
    samples, pcm = drum_samples(path, every_preset)
    paths = []
    for s in samples:
        dest = out / safe_name(path.stem) / safe_name(s.kit) / f"{s.index:04d}_{safe_name(s.name)}.wav"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.stem + ".tmp.wav")
            sf.write(tmp, pcm[s.start:s.end], s.sample_rate, subtype="PCM_16")
            tmp.replace(dest)
        paths.append(dest)
    return paths
