"""A drum kit for bench/onset_eval.py from the Synthesis ToolKit's drum waves (Debian: stk, need not be installed).

STK's `Drummer` instrument plays ten short recordings of the early 1990s, kept in
/usr/share/stk/rawwaves as headerless 16-bit big-endian mono at 22,050 Hz: a
lo-fi kit (the kick and the hat stop short, 0.1 s in, at a tenth of their peak),
unlike any other this project measures.  This fetches the package with
`apt-get download` (no root; 0.4 MB) and takes the waves out of it with
`dpkg-deb` (or reads /usr/share/stk when the package is installed), and writes
each drum under a name realtime.loops.role_of reads.  Its hi-hat starts at
-26 dB re its peak and strikes 11-16 ms later (two attacks, no clear onset time:
realtime.loops leaves such one-shots out), so the tambourine, short and bright,
plays the hat's part; the cowbell is left out (no role).  No onset detector parameter and no tree was
ever fitted on it (found in session 33): a held-out test set,
`onset_eval.py --kits data/audio/stk_kit`.

    .venv/bin/python bench/stk_kit.py [--deb FILE] [--out data/audio/stk_kit]
"""
from __future__ import annotations

import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from package_kit import kit_main, write_wavs  # noqa: E402
from realtime.loops import role_of  # noqa: E402

PACKAGE = "stk"
RAWWAVES = "usr/share/stk/rawwaves"
"""Where the package keeps the waves."""
RATE = 22050
"""The waves' sample rate, Hz (STK's rawwave convention)."""
DRUMS = {
    "bassdrum": ("kick", "kick"), "snardrum": ("snare", "snare"), "tambourn": ("hat_tambourine", "hat"),
    "tomlowdr": ("tom_low", "tom"), "tommiddr": ("tom_mid", "tom"), "tomhidrm": ("tom_high", "tom"),
    "crashcym": ("crash", "cymbal"), "ridecymb": ("ride", "cymbal"),
}
"""STK's wave name -> (the file name written, its drum role in realtime.loops.role_of's terms)."""


def write_kit(rawwaves: Path, out: Path) -> list[Path]:
    """Write the drums of DRUMS from the folder `rawwaves` into the kit folder `out` (replacing an earlier one,
    once every wave has been read), 16-bit WAV at 22,050 Hz -> the files written.  Raises FileNotFoundError
    naming a missing wave."""
    waves = {}
    for stem, (name, role) in DRUMS.items():
        assert role_of(name) == role, (name, role)
        path = rawwaves / f"{stem}.raw"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such STK wave")
        waves[name] = sf.read(path, format="RAW", subtype="PCM_16", endian="BIG", samplerate=RATE, channels=1,
                              dtype="int16")[0]
    return write_wavs(out, {name: (pcm, RATE) for name, pcm in waves.items()})


def main(argv: list[str] | None = None) -> int:
    return kit_main(argv, "stk_kit", __doc__, PACKAGE, RAWWAVES, "data/audio/stk_kit", write_kit, (FileNotFoundError,))


if __name__ == "__main__":
    sys.exit(main())
