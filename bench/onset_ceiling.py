"""What judging the detector's candidate peaks could reach at best, on onset_eval's loops.

The detector's onsets are the detection-function peaks above its fixed thresholds,
plus the candidate peaks under them (above `candidate_offset`) that the trees
accept (realtime.onsets, realtime.onset_trees).  This runs the live detector with
a judge that accepts every candidate, records each peak (fixed or candidate), and
scores, at +-25 ms, on the same loops as bench/onset_eval.py (one seed, 6 s, 48
kHz, 128-sample blocks):

- the fixed thresholds alone;
- an oracle that accepts exactly the candidates matching a true onset no fixed
  peak matches (the best any judge of these candidates could do);
- the same oracle also dropping every fixed peak that matches no true onset.

A candidate can match a true onset by chance: the candidates per second are
printed, so the reader can judge (at 4 a second, a +-25 ms window holds one by
chance nearly one time in five).  Peaks closer than `min_interval_s` to an
earlier fixed peak are dropped, as the detector drops them.

    .venv/bin/python bench/onset_ceiling.py [--offsets 0.02 0.01] [--kits DIR ...] [--out FILE.md]
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

from onset_eval import TUNING_KITS, loops  # noqa: E402
from realtime.loops import installed_kits  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.onset_trees import trees_source  # noqa: E402
from realtime.onsets import OnsetParams, collect_candidates  # noqa: E402
from report import emit, machine  # noqa: E402


def peaks(job: tuple[np.ndarray, int, np.ndarray, float]) -> tuple[int, int, int, int, int]:
    """(true onsets, fixed peaks, fixed peaks matching a true onset, candidates under the fixed thresholds,
    candidates matching a true onset no fixed peak matches) of one loop."""
    audio, rate, truth, offset = job
    params = OnsetParams(candidate_offset=offset)
    times, _, fixed = collect_candidates(audio, rate, 128, params)
    keep, last = np.ones(times.size, bool), -1.0
    for c in np.flatnonzero(fixed):  # the detector's minimum interval between fixed onsets
        if times[c] - last < params.min_interval_s:
            keep[c] = False
        else:
            last = times[c]
    times, fixed = times[keep], fixed[keep]
    taken = {r for r, _ in match(times[fixed], truth, 0.025)}
    rest = np.array([t for r, t in enumerate(truth) if r not in taken])
    return truth.size, int(fixed.sum()), len(taken), int((~fixed).sum()), len(match(times[~fixed], rest, 0.025))


def f_measure(tp: int, n_found: int, n_true: int) -> float:
    return 2 * tp / max(n_found + n_true, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--offsets", nargs="+", type=float, default=[0.02], help="candidate_offset values (default 0.02)")
    p.add_argument("--kits", nargs="+", type=Path, default=[], metavar="DIR", help="other kits, as a third set")
    p.add_argument("--out", type=Path, help="write the markdown here")
    args = p.parse_args(argv)
    debian = installed_kits()
    sets = {"tuning": [k for k in TUNING_KITS if k in debian], "held-out": [k for k in debian if k not in TUNING_KITS]}
    if args.kits:
        sets["other"] = [str(k) for k in args.kits]
    t0 = time.perf_counter()
    lines = [f"Command: `.venv/bin/python bench/onset_ceiling.py --offsets {' '.join(map(str, args.offsets))}"
             + (f" --kits {' '.join(map(str, args.kits))}" if args.kits else "") + "`  ", "",
             "| set | candidate_offset | fixed thresholds F (P / R) | oracle judge F (R) | oracle judge, fixed false "
             "peaks dropped too, F | candidates under the thresholds (per s) | of them matching a missed onset |",
             "|---|---|---|---|---|---|---|"]
    with Pool(2) as pool:
        for name, kits in sets.items():
            cases = loops(kits, 1, 6.0, 48000)
            seconds = sum(c.audio.size / c.rate for c in cases)
            for offset in args.offsets:
                n, nf, tpf, nc, hits = np.sum(pool.map(peaks, [(c.audio, c.rate, c.truth, offset) for c in cases]), 0)
                lines.append(f"| {name} ({len(cases)} loops, {n} onsets) | {offset:g} | {f_measure(tpf, nf, n):.3f} "
                             f"({tpf / max(nf, 1):.3f} / {tpf / n:.3f}) | {f_measure(tpf + hits, nf + hits, n):.3f} "
                             f"({(tpf + hits) / n:.3f}) | {f_measure(tpf + hits, tpf + hits, n):.3f} | {nc} "
                             f"({nc / seconds:.1f}) | {hits} |")
    lines[1:1] = [f"Machine: {machine()}; {time.perf_counter() - t0:.0f} s wall.  ",
                  f"The live detector at 48 kHz, 128-sample blocks, OnsetParams defaults but candidate_offset; the "
                  f"judge replaced (the shipped detector runs {trees_source()})."]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
