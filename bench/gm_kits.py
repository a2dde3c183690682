"""Drum kits for bench/onset_eval.py from the General MIDI SoundFonts that `drumtimbre build-data` extracts.

`build-data` writes each SoundFont drum preset's own samples to a folder
(data/audio/soundfonts/<font>/<preset>/); a preset that shares a sample with the
standard kit does not repeat it, as a General MIDI player falls back to the
standard kit's note.  This makes one kit folder per preset with at least two
kicks and snares of its own: links to its samples, plus the standard preset's
samples for each drum role (realtime.loops.role_of) it lacks.  No onset
detector parameter was ever fitted on these kits, so they are a held-out test
set: `onset_eval.py --kits data/audio/gm_kits/*`.

    .venv/bin/python bench/gm_kits.py [--soundfonts data/audio/soundfonts] [--out data/audio/gm_kits]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import AUDIO_SUFFIXES, role_of  # noqa: E402

FONTS = ("FluidR3_GM", "TimGM6mb")
"""The General MIDI SoundFonts (Debian: fluid-soundfont-gm, timgm6mb-soundfont); the drum-only Red Zeppelin
kit is onset_eval's headline "other kits" set already."""
STANDARD = "Standard"
MIN_OWN = 2
"""A preset needs at least this many kick and snare samples of its own to be a kit (not a variant of the
standard kit differing by one sample)."""


def _roles(folder: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        role = role_of(path.stem) if path.suffix.lower() in AUDIO_SUFFIXES else None
        if role is not None:
            out.setdefault(role, []).append(path)
    return out


def make_kits(soundfonts: Path, out: Path) -> list[Path]:
    """Write the kit folders (links) under `out`, replacing earlier ones; returns them."""
    kits = []
    for font in FONTS:
        presets = soundfonts / font
        if not (presets / STANDARD).is_dir():
            print(f"skipped {presets}: no {STANDARD} preset (run `drumtimbre build-data` first)", file=sys.stderr)
            continue
        standard = _roles(presets / STANDARD)
        for preset in sorted(p for p in presets.iterdir() if p.is_dir()):
            own = _roles(preset)
            if len(own.get("kick", [])) + len(own.get("snare", [])) < MIN_OWN:
                continue
            kit = out / f"{font}_{preset.name}"
            if kit.exists():
                shutil.rmtree(kit)
            kit.mkdir(parents=True)
            for role in sorted(set(own) | set(standard)):
                for path in own.get(role) or standard[role]:
                    (kit / path.name).symlink_to(path.resolve())
            kits.append(kit)
    return kits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--soundfonts", type=Path, default=Path("data/audio/soundfonts"),
                    help="build-data's SoundFont folder (default data/audio/soundfonts)")
    ap.add_argument("--out", type=Path, default=Path("data/audio/gm_kits"), help="where the kits go")
    args = ap.parse_args(argv)
    kits = make_kits(args.soundfonts, args.out)
    for kit in kits:
        print(kit)
    return 0 if kits else 1


if __name__ == "__main__":
    sys.exit(main())
