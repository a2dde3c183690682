"""A drum kit for bench/onset_eval.py from eXaDrums' default kit (Debian: exadrums, need not be installed).

eXaDrums is an electronic drum module; its Debian package ships the samples of
its default acoustic kit (a kick, a snare, two toms, a closed hat, a crash, a
ride's edge and bell; 44.1 kHz, 16-bit stereo).  The program itself is not
needed, so this fetches the package with `apt-get download` (no root), takes the
wav files out of it with `dpkg-deb`, and copies them into a kit folder (from
/usr/share/exadrums when the package is installed).  The ride's bell has no
role in realtime.loops.role_of's terms and is left out.  No
onset detector parameter and no tree was ever fitted on these samples (they
were found in session 24, after every choice was made), so the kit is a
held-out test set: `onset_eval.py --kits data/audio/exadrums_kit`.

    .venv/bin/python bench/exadrums_kit.py [--deb FILE] [--out data/audio/exadrums_kit]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debian_package import fetch_deb, unpack_deb  # noqa: E402
from realtime.loops import role_of  # noqa: E402

PACKAGE = "exadrums"
SAMPLES = "usr/share/exadrums"
"""Where the package keeps its kit's samples."""
FILES = ("BD_Acou_01.wav", "Snr_Acou_01.wav", "Tom01.wav", "Tom03.wav", "HiHat.wav", "Crash_High.wav",
         "RideEdge.wav")
"""The samples used: every one with a drum role (RideBell.wav has none)."""


def copy_kit(src: Path, out: Path) -> Path:
    """Copy FILES from the folder `src` into the kit folder `out` (replacing an earlier one)."""
    missing = [f for f in FILES if not (src / f).is_file()]
    if missing:
        raise RuntimeError(f"{src} lacks {', '.join(missing)}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in FILES:
        assert role_of(Path(name).stem) is not None, name
        shutil.copyfile(src / name, out / name)
    return out


def make_kit(deb: Path, out: Path) -> Path:
    """Extract FILES from the package `deb` into the kit folder `out` (replacing an earlier one)."""
    with tempfile.TemporaryDirectory() as tmp:
        return copy_kit(unpack_deb(deb, Path(tmp)) / SAMPLES, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deb", type=Path, help="an exadrums .deb already downloaded (default: apt-get download it)")
    ap.add_argument("--out", type=Path, default=Path("data/audio/exadrums_kit"), help="the kit folder to write")
    args = ap.parse_args(argv)
    installed = Path("/") / SAMPLES
    if args.deb is None and all((installed / f).is_file() for f in FILES):  # the package is installed
        print(copy_kit(installed, args.out))
        return 0
    try:
        if args.deb is not None:
            kit = make_kit(args.deb, args.out)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                kit = make_kit(fetch_deb(PACKAGE, Path(tmp)), args.out)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"exadrums_kit: {e}", file=sys.stderr)
        return 1
    print(kit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
