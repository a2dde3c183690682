"""A hit that starts the stream: is it found, wherever in the detector's first hop it begins?

A file (or a live stream) may begin with a hit, its attack a few samples or a
fraction of a hop in.  For each kit, each loop style and each sample rate, this
renders a loop (realtime.loops, 120 bpm, 0.8 s), cuts it so that the file begins
0..`--span` samples before its first true onset (one sample apart: a hop is 64
samples at 48 kHz), runs the live detector over it (`realtime.onsets.detect`,
128-sample blocks) and counts the cuts whose first hit is missed (no onset
within +-25 ms of it), and the timing error of the first hit where found.

    .venv/bin/python bench/onset_stream_start.py [--kits synth GMRockKit ...] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from realtime.loops import STYLES, installed_kits, render_loop  # noqa: E402
from realtime.onsets import detect  # noqa: E402
from report import emit, machine  # noqa: E402

RATES = (16000, 44100, 48000)


def misses(job: tuple[str, str, int, int]) -> tuple[str, str, int, int, list[int], list[float]]:
    """(kit, style, rate, cuts tried, the cuts (samples before the first hit) whose first hit is missed, the
    first hit's timing error (s) in the others)."""
    kit, style, rate, span = job
    loop = render_loop(style, 120, 0.8, rate, seed=1, kit=kit)
    first = int(round(loop.onsets[0] * rate))
    bad, errors = [], []
    for cut in range(0, min(span, first) + 1):
        start = first - cut
        found = detect(loop.audio[start:], rate, 128)
        error = float(np.min(np.abs(found - cut / rate))) if found.size else np.inf
        if error > 0.025:
            bad.append(cut)
        else:
            errors.append(error)
    return kit, style, rate, min(span, first) + 1, bad, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kits", nargs="+", default=None, help="kits (default: the synthetic kit and every Debian kit)")
    p.add_argument("--span", type=int, default=160, help="cuts 0..SPAN samples before the first hit (default 160)")
    p.add_argument("--out", type=Path, help="write the markdown here")
    args = p.parse_args(argv)
    kits = args.kits or ["synth"] + installed_kits()
    jobs = [(k, s, r, args.span) for k in kits for s in STYLES for r in RATES]
    t0 = time.perf_counter()
    with Pool(2) as pool:
        rows = pool.map(misses, jobs)
    cuts = {r: 0 for r in RATES}
    missed = {r: 0 for r in RATES}
    errors: dict[int, list[float]] = {r: [] for r in RATES}
    worst = []
    for kit, style, rate, tried, bad, err in rows:
        cuts[rate] += tried
        missed[rate] += len(bad)
        errors[rate] += err
        if bad:
            worst.append(f"{Path(kit).name}/{style} at {rate} Hz: {', '.join(map(str, bad))}")
    lines = [f"Command: `.venv/bin/python bench/onset_stream_start.py{' --kits ' + ' '.join(args.kits) if args.kits else ''}"
             f"{f' --span {args.span}' if args.span != 160 else ''}`  ",
             f"Machine: {machine()}; {time.perf_counter() - t0:.0f} s wall.  ",
             f"{len(kits)} kits x {len(STYLES)} styles; each loop cut to begin 0..{args.span} samples before its first "
             "hit; the live detector, 128-sample blocks.", "",
             "| rate (Hz) | cuts | first hit missed | its timing error where found, p50 / p95 / max (ms) |",
             "|---|---|---|---|"]
    lines += [f"| {r} | {cuts[r]} | {missed[r]} | "
              + " / ".join(f"{1000 * v:.2f}" for v in np.percentile(errors[r], [50, 95, 100])) + " |" for r in RATES]
    lines += ["", "Cuts (samples before the first hit) missing it: " + ("; ".join(worst) if worst else "none") + "."]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
