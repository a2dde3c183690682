"""A drum kit for bench/onset_eval.py from Sonic Pi's acoustic drum samples (Debian: sonic-pi-samples).

Sonic Pi's `drum_*` one-shots are a whole acoustic kit (kicks, snares, a
closed and an open hat, toms, cymbals), but their names do not all say their
role in realtime.loops.role_of's terms (`drum_cymbal_closed` is a hat,
`drum_bass_hard` a kick).  This writes one kit folder of links, each named
`<role>_<sample>.flac`.  The pedal hat stays out, as onset_eval leaves pedal
hats out of every kit.  No onset detector parameter was ever fitted on these
samples (they were only ever timbre training data), so the kit is a held-out
test set: `onset_eval.py --kits data/audio/sonic_pi_kit`.

    .venv/bin/python bench/sonic_pi_kit.py [--samples /usr/share/sonic-pi/samples] [--out data/audio/sonic_pi_kit]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import role_of  # noqa: E402

ROLES = {
    "kick": ("drum_heavy_kick", "drum_bass_hard", "drum_bass_soft"),
    "snare": ("drum_snare_hard", "drum_snare_soft"),
    "hat": ("drum_cymbal_closed",),
    "open_hat": ("drum_cymbal_open",),
    "tom": ("drum_tom_hi_hard", "drum_tom_hi_soft", "drum_tom_mid_hard", "drum_tom_mid_soft",
            "drum_tom_lo_hard", "drum_tom_lo_soft"),
    "cymbal": ("drum_cymbal_hard", "drum_cymbal_soft", "drum_splash_hard", "drum_splash_soft"),
}
"""Sonic Pi sample names by drum role."""


def make_kit(samples: Path, out: Path) -> Path | None:
    """Write the kit folder (links) at `out`, replacing an earlier one; None when the samples are missing."""
    missing = [name for names in ROLES.values() for name in names if not (samples / f"{name}.flac").is_file()]
    if missing:
        print(f"{samples} lacks {', '.join(missing)} (Debian package sonic-pi-samples)", file=sys.stderr)
        return None
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for role, names in ROLES.items():
        for name in names:
            link = out / f"{role}_{name}.flac"
            assert role_of(link.stem) == role, (link.stem, role_of(link.stem))
            link.symlink_to((samples / f"{name}.flac").resolve())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=Path("/usr/share/sonic-pi/samples"),
                    help="Sonic Pi's sample folder (default /usr/share/sonic-pi/samples)")
    ap.add_argument("--out", type=Path, default=Path("data/audio/sonic_pi_kit"), help="the kit folder to write")
    args = ap.parse_args(argv)
    kit = make_kit(args.samples, args.out)
    if kit is not None:
        print(kit)
    return 0 if kit is not None else 1


if __name__ == "__main__":
    sys.exit(main())
