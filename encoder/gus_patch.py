"""Recordings out of Gravis UltraSound patch files (.pat), as Debian's freepats drum set ships them.

A .pat file is a 239-byte header (patch, instrument, layer) followed by one or
more waves, each a 96-byte header and its PCM data: 8 or 16 bits, signed or
unsigned, mono, at the wave's own rate.  `read_patch` returns the waves;
`extract` writes the first unlooped wave of each patch as a WAV file, ready for
the labeller (a looped wave stands for a sustained sound never recorded whole).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAGIC = (b"GF1PATCH110\0", b"GF1PATCH100\0")
_HEADER = 239
"""Patch (129), instrument (63) and layer (47) headers before the first wave."""
_WAVE = 96
_16BIT, _UNSIGNED, _LOOPED = 1, 2, 4  # wave mode bits


class PatchError(ValueError):
    """A file that is not a GUS patch this module can read; the message names the file."""


@dataclass(frozen=True)
class Wave:
    """One wave of a patch: float samples in -1..1 at `sample_rate` (Hz)."""

    samples: np.ndarray
    sample_rate: int
    looped: bool


def read_patch(path: str | Path) -> list[Wave]:
    """The waves of a .pat file, in file order; PatchError naming the file when it is not one."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < _HEADER or data[:12] not in _MAGIC:
        raise PatchError(f"{path}: not a GUS patch (no GF1PATCH header)")
    n_waves = data[198]  # the layer header's wave count
    waves, pos = [], _HEADER
    for i in range(n_waves):
        if pos + _WAVE > len(data):
            raise PatchError(f"{path}: wave {i} header runs past the end of the file")
        size, = struct.unpack_from("<I", data, pos + 8)
        rate, = struct.unpack_from("<H", data, pos + 20)
        modes = data[pos + 55]
        body = pos + _WAVE
        if body + size > len(data) or rate <= 0:
            raise PatchError(f"{path}: wave {i} is cut short or has no sample rate")
        raw = data[body:body + size]
        if modes & _16BIT:
            x = np.frombuffer(raw[:size - size % 2], dtype="<u2" if modes & _UNSIGNED else "<i2").astype(np.float64)
            x = (x - 32768 if modes & _UNSIGNED else x) / 32768
        else:
            x = np.frombuffer(raw, dtype=np.uint8 if modes & _UNSIGNED else np.int8).astype(np.float64)
            x = (x - 128 if modes & _UNSIGNED else x) / 128
        waves.append(Wave(x, int(rate), bool(modes & _LOOPED)))
        pos = body + size
    return waves


def extract(folder: str | Path, out: str | Path, min_seconds: float = 0.02) -> list[Path]:
    """Write the first unlooped wave (at least `min_seconds` long) of every .pat in `folder` as a
    16-bit WAV `<out>/<folder name>/<patch stem>.wav` -> their paths; a file that is no patch, or
    has no such wave, is skipped; files already there are kept."""
    import soundfile as sf

    from encoder.soundfont import safe_name

    folder, out = Path(folder), Path(out)
    paths = []
    for pat in sorted(folder.glob("*.pat")):
        dest = out / folder.name / (safe_name(pat.stem) + ".wav")
        if not dest.exists():
            try:
                wave = next((w for w in read_patch(pat)
                             if not w.looped and w.samples.size >= min_seconds * w.sample_rate), None)
            except PatchError:
                continue
            if wave is None:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.stem + ".tmp.wav")
            sf.write(tmp, wave.samples, wave.sample_rate, subtype="PCM_16")
            tmp.replace(dest)
        paths.append(dest)
    return paths
