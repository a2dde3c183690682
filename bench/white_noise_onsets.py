"""False onsets of the live detector in white noise of many seeds, by level (the trees' noise check).

    .venv/bin/python bench/white_noise_onsets.py [--seeds 10] [--seconds 10] [--out FILE.md]

onset_robustness.py check 2 plays one noise of each colour; a fit of the candidate
trees can turn out well or badly on one seed, so this one plays white noise of
`--seeds` other seeds (numpy seeds 10, 11, ...), each peaking at -1, -10 and -20
dBFS, and counts the onsets after the first 50 ms.  DRUMTIMBRE_ONSET_TREES names
other trees, as everywhere.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from realtime.onset_trees import trees_source  # noqa: E402
from realtime.onsets import detect  # noqa: E402
from report import emit, machine  # noqa: E402

RATE = 48000
LEVELS_DBFS = (-1, -10, -20)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help="noises played, each its own numpy seed from 10 on")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each noise, s")
    p.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = p.parse_args(argv)
    if args.seeds < 1 or not args.seconds > 0.05:
        p.error(f"--seeds {args.seeds} --seconds {args.seconds}: need at least 1 and more than 0.05 s")
    t0 = time.perf_counter()
    false = dict.fromkeys(LEVELS_DBFS, 0)
    for seed in range(10, 10 + args.seeds):
        noise = np.random.default_rng(seed).standard_normal(int(args.seconds * RATE))
        for db in LEVELS_DBFS:
            found = detect((noise / np.abs(noise).max() * 10 ** (db / 20)).astype(np.float32), RATE, 128)
            false[db] += int(np.count_nonzero(found > 0.05))
    total = args.seeds * args.seconds
    lines = [f"Command: `.venv/bin/python bench/white_noise_onsets.py --seeds {args.seeds} --seconds {args.seconds:g}`  ",
             f"Machine: {machine()}; {time.perf_counter() - t0:.0f} s wall.  ",
             f"Ours: OnsetParams(defaults), 128-sample blocks at {RATE} Hz, with {trees_source()}.", "",
             f"### False onsets in {total:g} s of white noise ({args.seeds} seeds), by peak level", "",
             "| " + " | ".join(f"{db} dBFS" for db in LEVELS_DBFS) + " |", "|" + "---|" * len(LEVELS_DBFS),
             "| " + " | ".join(str(false[db]) for db in LEVELS_DBFS) + " |"]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
