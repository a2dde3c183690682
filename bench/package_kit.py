"""A test kit made from a Debian package's files (bench/opl3_kit.py, bench/stk_kit.py): the kit folder written, and
the scripts' shared command line (`--deb FILE`, `--out FOLDER`)."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from debian_package import from_package


def write_wavs(out: Path, sounds: dict[str, tuple[np.ndarray, int]]) -> list[Path]:
    """Replace the folder `out` (an earlier kit there is removed) with one 16-bit WAV per `sounds` entry,
    name -> (samples, rate in Hz) -> the files written."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for name, (samples, rate) in sounds.items():
        path = out / f"{name}.wav"
        sf.write(path, samples, rate, subtype="PCM_16")
        written.append(path)
    return written


def kit_main(argv: list[str] | None, name: str, doc: str, package: str, inside: str, default_out: str, write_kit,
             errors: tuple[type[Exception], ...] = ()) -> int:
    """The command line of the kit script `name`: `write_kit(path, out)` on `inside` the installed `package`, or the
    one in `--deb` (or a freshly downloaded .deb), into `--out` (default `default_out`); prints the files written,
    or the error (RuntimeError, a failed dpkg-deb, or one of `errors`) and returns 1."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--deb", type=Path, help=f"an {package} .deb already downloaded (default: apt-get download it)")
    ap.add_argument("--out", type=Path, default=Path(default_out), help="the kit folder to write")
    args = ap.parse_args(argv)
    try:
        files = from_package(package, inside, lambda path: write_kit(path, args.out), args.deb)
    except (RuntimeError, subprocess.CalledProcessError, *errors) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(files)} samples ({', '.join(p.stem for p in files)})")
    return 0
