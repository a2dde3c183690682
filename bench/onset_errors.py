"""Where the live onset detector's errors are, on bench/onset_eval.py's loops: false onsets and misses by cause.

For each set of kits (the held-out Debian kits by default; `--set tuning`, or
`--kits DIR ...` for kit folders) it renders onset_eval's loops, runs the
detector as the engine does (128-sample blocks), matches at +-25 ms, and sorts
every error:

* a false onset is a *second report* when a matched true onset lies within
  50 ms of it (a flam's main note, a kit's own second attack), a *timing miss*
  when an unmatched true onset does (25-50 ms off: it also counts as a miss),
  and *apart* otherwise (a retrigger in a decay); each is put on the one-shot
  whose hit lies nearest before it;
* a miss is sorted by the largest detection-function value within -3..+20 ms
  of it against the thresholds at that point: *no candidate* (under
  `candidate_offset`, 0.02), *under the median* (under threshold_ratio x the
  moving median + candidate_offset), *a candidate* (between that and the
  fixed thresholds: the trees or the energy check turned it down), *above the
  fixed thresholds* (a peak the other checks or the minimum interval took).

    .venv/bin/python bench/onset_errors.py [--set held-out|tuning] [--kits DIR ...] [--seeds 2]
        [--styles dense_hats ...] [--bpms 140 170 ...]
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import TUNING_KITS, add_loop_options, loop_options, loops  # noqa: E402

from realtime.loops import STYLES, installed_kits  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.onsets import OnsetDetector, OnsetParams  # noqa: E402

NEAR_S = 0.05
"""A false onset this close (s) to a true onset is a second report or a timing miss."""
MISS_CLASSES = ("no candidate", "under the median", "a candidate", "above the fixed thresholds")


class _Traced(OnsetDetector):
    """The live detector, keeping every detection-function value (frame number -> value)."""

    def __init__(self, rate: int, params: OnsetParams):
        super().__init__(rate, params)
        self.trace: dict[int, float] = {}

    def _decide(self):
        self.trace.update(zip(range(self._df_first, self._df_first + len(self._df)), self._df))
        return super()._decide()


def _miss_class(df: np.ndarray, hop: int, n_median: int, rate: int, t: float, p: OnsetParams) -> str:
    """The class of a miss at t (s) from the detection function df (frame k ends at (k + 1) * hop; the moving
    median over n_median frames)."""
    ends = (np.arange(df.size) + 1) * hop / rate
    near = np.flatnonzero((ends > t - 0.003) & (ends < t + 0.020))
    if near.size == 0:
        return MISS_CLASSES[0]
    k = near[np.argmax(df[near])]
    v = df[k]
    med = float(np.median(df[max(0, k - n_median): k])) if k else 0.0
    if v <= p.candidate_offset:
        return MISS_CLASSES[0]
    if v <= p.threshold_ratio * med + p.candidate_offset:
        return MISS_CLASSES[1]
    if v <= p.threshold_ratio * med + p.threshold_offset:
        return MISS_CLASSES[2]
    return MISS_CLASSES[3]


def errors(kit: str, seeds: int, seconds: float, rate: int, params: OnsetParams, styles: tuple[str, ...] = STYLES,
           bpms: tuple[float, ...] | None = None) -> tuple[list[dict], list[dict]]:
    """(false onsets, misses) of one kit's loops (onset_eval's; `styles`, `bpms` as its loops()), each a dict."""
    extras, misses = [], []
    name = Path(kit).name
    for case in loops([kit], seeds, seconds, rate, styles, bpms):
        style = case.name.split("/")[1]
        det = _Traced(rate, params)
        found = []
        for i in range(0, case.audio.size, 128):
            found += [o.time for o in det.process(case.audio[i: i + 128])]
        found += [o.time for o in det.flush()]
        found = np.array(found)
        pairs = match(found, case.truth, 0.025)
        got_truth, got_est = {r for r, _ in pairs}, {e for _, e in pairs}
        hit_times = np.array([h.time for h in case.hits])
        for e, t in enumerate(found):
            if e in got_est:
                continue
            d = np.abs(case.truth - t)
            r = int(np.argmin(d))
            kind = "apart" if d[r] > NEAR_S else ("second report" if r in got_truth else "timing miss")
            before = np.flatnonzero(hit_times <= t + 0.003)
            h = case.hits[before[-1]] if before.size else case.hits[0]
            extras.append(dict(kit=name, style=style, kind=kind, file=Path(h.file).name, role=h.role,
                               after_ms=1000 * (t - h.time)))
        frames = max(det.trace) + 1 if det.trace else 0
        df = np.array([det.trace.get(k, 0.0) for k in range(frames)])
        for r, t in enumerate(case.truth):
            if r not in got_truth:
                cls = _miss_class(df, det.hop, det.n_median, rate, t, params)
                misses.append(dict(kit=name, style=style, cls=cls))
    return extras, misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("tuning", "held-out"), default="held-out")
    ap.add_argument("--kits", nargs="+", type=Path, default=[], metavar="DIR", help="kit folders instead of --set")
    ap.add_argument("--seeds", type=int, default=2, help="loops per kit x style (default 2)")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--top", type=int, default=8, help="one-shots listed under the false onsets (default 8)")
    add_loop_options(ap)
    args = ap.parse_args(argv)
    styles, bpms = loop_options(ap, args)
    if args.kits:
        kits = [str(k) for k in args.kits]
    else:
        kits = [k for k in installed_kits() if (Path(k).name in TUNING_KITS) == (args.set == "tuning")]
    if not kits:
        print("no Debian drum kits installed (apt install hydrogen-drumkits hydrogen-data lmms-common)",
              file=sys.stderr)
        return 1
    params = OnsetParams()
    extras, misses = [], []
    for kit in kits:
        e, m = errors(kit, args.seeds, args.seconds, args.rate, params, styles, bpms)
        extras += e
        misses += m
    kinds = ("second report", "timing miss", "apart")
    print(f"{', '.join(Path(k).name for k in kits)}: {args.seeds} seed(s), {args.seconds:g} s loops, "
          f"{args.rate} Hz; {len(extras)} false onsets, {len(misses)} misses\n")
    print("| kit | false onsets | " + " | ".join(kinds) + " | misses | " + " | ".join(MISS_CLASSES) + " |")
    print("|---" * (3 + len(kinds) + len(MISS_CLASSES)) + "|")
    by_e, by_m = defaultdict(Counter), defaultdict(Counter)
    for x in extras:
        by_e[x["kit"]][x["kind"]] += 1
    for x in misses:
        by_m[x["kit"]][x["cls"]] += 1
    for kit in sorted(set(by_e) | set(by_m)) + ["all"]:
        ce = sum(by_e.values(), Counter()) if kit == "all" else by_e[kit]
        cm = sum(by_m.values(), Counter()) if kit == "all" else by_m[kit]
        print(f"| {kit} | {sum(ce.values())} | " + " | ".join(str(ce[k]) for k in kinds)
              + f" | {sum(cm.values())} | " + " | ".join(str(cm[c]) for c in MISS_CLASSES) + " |")
    print("\nfalse onsets by style:", dict(Counter(x["style"] for x in extras)))
    print("misses by style:", dict(Counter(x["style"] for x in misses)))
    print(f"\nthe {args.top} one-shots with the most false onsets after them (kit, file, role: count, ms after the hit "
          "median):")
    files = Counter((x["kit"], x["file"], x["role"]) for x in extras)
    for (kit, f, role), n in files.most_common(args.top):
        ms = [x["after_ms"] for x in extras if (x["kit"], x["file"], x["role"]) == (kit, f, role)]
        print(f"  {kit} {f} ({role}): {n}, {np.median(ms):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
