"""A drum kit for bench/onset_eval.py from the OPL3 FM SoundFont (Debian: opl3-soundfont, need not be installed).

The SoundFont imitates the FM drums of a 1990s PC sound card (Yamaha OPL3): FM
tones and noise, not recordings; a kit unlike the others this project measures.
Its samples are named by number, not by drum, so they are chosen by the General
MIDI key that plays them (SoundFont keyRange: 36 bass drum, 38 snare, 42 closed
hat, ...; `GM_DRUMS`) and written under names that
realtime.loops.role_of reads.  This fetches the package with `apt-get download`
(no root; 100 MB) and takes the SoundFont out of it with `dpkg-deb` (or reads
/usr/share/sounds/sf2 when the package is installed).  No onset detector
parameter and no tree was ever fitted on it (found in session 26, after every
choice was made): a held-out test set, `onset_eval.py --kits data/audio/opl3_kit`.

    .venv/bin/python bench/opl3_kit.py [--deb FILE] [--out data/audio/opl3_kit]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from package_kit import kit_main, write_wavs  # noqa: E402
from encoder.soundfont import SoundFontError, drum_samples  # noqa: E402
from realtime.loops import role_of  # noqa: E402

PACKAGE = "opl3-soundfont"
SOUNDFONT = "usr/share/sounds/sf2/OPL-3_FM_128M.sf2"
"""Where the package keeps the SoundFont."""
GM_DRUMS = {
    35: ("kick_acoustic", "kick"), 36: ("kick", "kick"), 38: ("snare", "snare"), 40: ("snare_electric", "snare"),
    41: ("tom_low_floor", "tom"), 43: ("tom_high_floor", "tom"), 45: ("tom_low", "tom"), 47: ("tom_low_mid", "tom"),
    48: ("tom_high_mid", "tom"), 50: ("tom_high", "tom"), 42: ("hat_closed", "hat"), 46: ("open_hat", "open_hat"),
    49: ("crash_1", "cymbal"), 57: ("crash_2", "cymbal"), 51: ("ride_1", "cymbal"), 59: ("ride_2", "cymbal"),
}
"""General MIDI key -> (file name, its drum role in realtime.loops.role_of's terms)."""


def write_kit(soundfont: Path, out: Path) -> list[Path]:
    """Write the first drum kit's samples of the keys in GM_DRUMS from `soundfont` into the kit folder `out`
    (replacing an earlier one, once the new one is known to hold a kick, a snare and a closed hat), 16-bit WAV at
    their own rate -> the files written."""
    samples, pcm = drum_samples(soundfont)
    if not samples:
        raise SoundFontError(f"{soundfont}: no drum kit (bank 128)")
    kit = samples[0].kit
    chosen = {}  # file name -> the sample its key plays
    for key, (name, role) in GM_DRUMS.items():
        assert role_of(name) == role, (name, role)
        playing = [s for s in samples if s.kit == kit and s.keys[0] <= key <= s.keys[1]]
        if playing:
            chosen[name] = playing[0]
    if not {"kick", "snare", "hat"} <= {role_of(name) for name in chosen}:
        raise SoundFontError(f"{soundfont}: kit {kit!r} lacks a kick, a snare or a closed hat on General MIDI keys")
    return write_wavs(out, {name: (pcm[s.start:s.end], s.sample_rate) for name, s in chosen.items()})


def main(argv: list[str] | None = None) -> int:
    return kit_main(argv, "opl3_kit", __doc__, PACKAGE, SOUNDFONT, "data/audio/opl3_kit", write_kit, (SoundFontError,))


if __name__ == "__main__":
    sys.exit(main())
