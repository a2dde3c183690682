"""The live detector's misses on onset_eval's loops by cause and by how far each stands above the kit.

Joins bench/onset_errors.py's miss classes (no candidate, under the median, a
candidate the trees or the energy check turned down, above the fixed
thresholds) with bench/onset_masking.py's margin of each true onset (its own
energy over the rest of the loop, best band, dB), and gives the F the loops
would read if every miss at or above `--audible-db` were found, false onsets
unchanged: how much of the gap to the target audible misses hold.

    .venv/bin/python bench/onset_miss_margins.py [--set held-out|tuning] [--kits DIR ...] [--seeds 4] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_errors import MISS_CLASSES, _miss_class, _Traced  # noqa: E402
from onset_eval import TUNING_KITS, loops  # noqa: E402
from onset_masking import margins  # noqa: E402
from report import emit  # noqa: E402

from realtime.loops import installed_kits  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.onset_trees import trees_source  # noqa: E402
from realtime.onsets import OnsetParams  # noqa: E402

BINS = ((-np.inf, 5.0, "under 5"), (5.0, 10.0, "5 to 10"), (10.0, 20.0, "10 to 20"), (20.0, np.inf, "20 and over"))


def tally(kits: list[str], seeds: int, seconds: float, rate: int) -> tuple[Counter, Counter, Counter]:
    """(true onsets by margin bin, misses by (class, bin), false onsets by kit)."""
    p = OnsetParams()
    onsets, misses, extras = Counter(), Counter(), Counter()
    for kit in kits:
        for case in loops([kit], seeds, seconds, rate):
            det = _Traced(rate, p)
            found = []
            for i in range(0, case.audio.size, 128):
                found += [o.time for o in det.process(case.audio[i:i + 128])]
            found = np.array(found + [o.time for o in det.flush()])
            pairs = match(found, case.truth, 0.025)
            got = {r for r, _ in pairs}
            extras[Path(kit).name] += found.size - len(pairs)
            df = np.array([det.trace.get(k, 0.0) for k in range(max(det.trace) + 1)]) if det.trace else np.zeros(0)
            m = margins(case, kit, 0.02)
            for r, t in enumerate(case.truth):
                b = next(name for lo, hi, name in BINS if lo <= m[r] < hi)
                onsets[b] += 1
                if r not in got:
                    misses[(_miss_class(df, det.hop, det.n_median, rate, t, p), b)] += 1
    return onsets, misses, extras


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("held-out", "tuning"), default="held-out")
    ap.add_argument("--kits", nargs="+", metavar="DIR", help="kit folders instead of --set")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--audible-db", type=float, default=5.0, help="the margin from which a miss counts as audible")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    kits = args.kits or [k for k in installed_kits() if (Path(k).name in TUNING_KITS) == (args.set == "tuning")]
    if not kits:
        print("no kits (apt install hydrogen-drumkits hydrogen-data lmms-common)", file=sys.stderr)
        return 1
    t0 = time.time()
    onsets, misses, extras = tally(kits, args.seeds, args.seconds, args.rate)
    n, n_miss, n_extra = sum(onsets.values()), sum(misses.values()), sum(extras.values())
    bins = [name for _, _, name in BINS]
    lines = [f"Command: `.venv/bin/python bench/onset_miss_margins.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"Kits: {', '.join(Path(k).name for k in kits)}; {args.seeds} seed(s), {args.seconds:g} s loops, "
             f"{args.rate} Hz, 128-sample blocks, {trees_source(True)}; {time.time() - t0:.0f} s.", "",
             f"{n} true onsets, {n_miss} misses, {n_extra} false onsets "
             f"({', '.join(f'{k} {v}' for k, v in extras.most_common())}).", "",
             "| miss class | " + " | ".join(f"margin {b} dB" for b in bins) + " | all |",
             "|---|" + "---|" * (len(bins) + 1)]
    for cls in MISS_CLASSES:
        row = [misses[(cls, b)] for b in bins]
        lines.append(f"| {cls} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    row = [sum(misses[(c, b)] for c in MISS_CLASSES) for b in bins]
    lines.append("| all misses | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    lines.append("| true onsets | " + " | ".join(str(onsets[b]) for b in bins) + f" | {n} |")

    def f(tp: int) -> float:
        prec, rec = tp / max(tp + n_extra, 1), tp / max(n, 1)
        return 2 * prec * rec / (prec + rec) if prec + rec else 0.0

    inaudible = sum(misses[(c, b)] for c in MISS_CLASSES for lo, _, b in BINS if lo < args.audible_db)
    lines += ["", f"F at +-25 ms: {f(n - n_miss):.3f}; with every miss at {args.audible_db:g} dB and over found "
              f"(false onsets as they are): {f(n - inaudible):.3f}; with those found and no false onset: "
              f"{2 * (n - inaudible) / (2 * n - inaudible):.3f}."]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
