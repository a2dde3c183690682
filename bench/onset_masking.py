"""How loud each true onset is against the sound already playing, and what each detector finds at each level.

A rendered loop is a sum of known one-shots, so every true onset's own sound
(the hits merged into it) and the rest of the loop (every other hit's sound,
ringing or starting) can be rebuilt apart. For each true onset this script
measures its *margin*: over the `--window-ms` after its attack, in each of
12 log-spaced bands from 40 Hz up, the energy of its own sound over that of
the rest, in dB; the margin is the largest over the bands, counting only a
band where the onset's own sound is within 60 dB of its loudest band. An onset
under 0 dB is quieter than what is already sounding in every band: a listener
hears it, if at all, as a change in a sound, not as a hit.

It then runs the live detector (128-sample blocks, as the engine) and aubio's
online detectors (their best setting on these loops, by F at +-25 ms, from
`--aubio METHOD:THRESHOLD ...`) over onset_eval's loops, and prints the recall
of each by margin, and F at +-25 ms over all onsets and over those at or above
each margin floor (an onset under the floor is taken out of the truth, with a
detection matched to it).

    .venv/bin/python bench/onset_masking.py [--set held-out|tuning|other] [--kits DIR ...] [--seeds 2]
        [--rate 48000] [--window-ms 20] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import OTHER_KITS, TUNING_KITS, Case, aubio_onsets, loops, ours  # noqa: E402

from realtime.loops import MERGE_S, add_shot, installed_kits, load_kit  # noqa: E402
from realtime.onset_match import match  # noqa: E402

BINS_DB = (-np.inf, -10.0, -5.0, 0.0, 5.0, 10.0, 20.0, np.inf)
FLOORS_DB = (-10.0, -5.0, 0.0, 5.0)
N_BANDS = 12
LOW_HZ = 40.0
AUBIO_DEFAULT = ("mkl:0.05", "hfc:0.05", "complex:0.05", "specflux:0.2", "kl:0.2")


def band_edges(rate: int, n_fft: int) -> list[tuple[int, int]]:
    """FFT bin ranges [lo, hi) of N_BANDS log-spaced bands from LOW_HZ to rate / 2."""
    edges = np.geomspace(LOW_HZ, rate / 2, N_BANDS + 1) * n_fft / rate
    idx = np.unique(np.clip(np.round(edges).astype(int), 1, n_fft // 2 + 1))
    return [(int(a), int(b)) for a, b in zip(idx[:-1], idx[1:]) if b > a]


def band_energy(x: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
    """Energy of `x` (Hann-windowed) in each band."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    return np.array([spec[a:b].sum() for a, b in bands])


def margins(case: Case, kit: str, window_s: float) -> np.ndarray:
    """Margin (dB) of each of `case`'s true onsets: its own sound over the rest of the loop, best band."""
    rate = case.rate
    shots = {s.file: s for pool in load_kit(kit, rate).values() for s in pool}
    n = case.audio.size
    raw = np.zeros(n)
    placed = []  # (first sample, samples at its gain) of each hit, cut at the loop's end: no loop-long copy each
    for h in case.hits:
        shot, at = shots[h.file], int(round(h.time * rate))
        add_shot(raw, shot, at, h.gain_db)
        start = at - shot.attack
        placed.append((start, shot.samples[: n - start] * 10 ** (h.gain_db / 20)))
    scale = 0.9 / np.max(np.abs(raw))
    if np.max(np.abs(raw * scale - case.audio)) > 1e-4:
        raise RuntimeError(f"{case.name}: the rebuilt loop differs from the rendered one")
    times = np.array([h.time for h in case.hits])
    win = int(round(window_s * rate))
    bands = band_edges(rate, win)
    out = np.zeros(case.truth.size)
    for i, t in enumerate(case.truth):
        a = int(round(t * rate))
        mine = np.zeros(win)  # the onset's own hits over [a, a + win), zero past the loop's end
        for j in np.flatnonzero((times >= t - 1e-9) & (times < t + MERGE_S)):
            start, samples = placed[j]
            lo, hi = max(a, start), min(a + win, start + samples.size)
            if hi > lo:
                mine[lo - a: hi - a] += samples[lo - start: hi - start]
        rest = np.zeros(win)
        rest[: min(win, n - a)] = raw[a: a + win]
        rest -= mine
        em, er = band_energy(mine, bands), band_energy(rest, bands)
        ok = em >= em.max() * 1e-6
        out[i] = float(np.max(10 * np.log10((em[ok] + 1e-30) / (er[ok] + 1e-20 * em.max() + 1e-30))))
    return out


def found_truth(cases: list[Case], found: list[np.ndarray]) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
    """Whether each true onset (all cases, in order) is matched at +-25 ms, and each case's pairs."""
    got, pairs = [], []
    for c, f in zip(cases, found):
        p = match(f, c.truth, 0.025)
        hit = np.zeros(c.truth.size, bool)
        hit[[r for r, _ in p]] = True
        got.append(hit)
        pairs.append(p)
    return np.concatenate(got), pairs


def f_above(cases: list[Case], found: list[np.ndarray], pairs: list, margin: list[np.ndarray], floor: float) -> float:
    """F at +-25 ms with every true onset under `floor` dB left out, with the detection matched to it."""
    tp = n_ref = n_est = 0
    for c, f, p, m in zip(cases, found, pairs, margin):
        low = m < floor
        dropped_est = sum(1 for r, _ in p if low[r])
        tp += sum(1 for r, _ in p if not low[r])
        n_ref += int((~low).sum())
        n_est += f.size - dropped_est
    prec, rec = tp / max(n_est, 1), tp / max(n_ref, 1)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("held-out", "tuning", "other"), default="held-out")
    ap.add_argument("--kits", nargs="+", metavar="KIT", help="kit names or folders instead of --set")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--window-ms", type=float, default=20.0)
    ap.add_argument("--aubio", nargs="*", default=list(AUBIO_DEFAULT), metavar="METHOD:THRESHOLD")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.kits:
        kits, name = args.kits, ", ".join(Path(k).name for k in args.kits)
    elif args.set == "other":
        root = Path(__file__).resolve().parents[1]
        kits, name = [str(root / k) for k in OTHER_KITS], "other kits"
    else:
        debian = installed_kits()
        kits = [k for k in debian if (k in TUNING_KITS) == (args.set == "tuning")]
        name = f"{args.set} Debian kits"
    t0 = time.time()
    cases = loops(kits, args.seeds, args.seconds, args.rate)
    kit_of = {Path(k).name: k for k in kits}
    margin = [margins(c, kit_of[c.name.split("/")[0]], args.window_ms / 1000) for c in cases]
    allm = np.concatenate(margin)
    detectors = {"ours": [ours(c.audio, c.rate, 128).times for c in cases]}
    best = None
    for spec in args.aubio:
        method, thr = spec.split(":")
        found = [aubio_onsets(c.audio, c.rate, method, float(thr)).times for c in cases]
        _, p = found_truth(cases, found)
        f = f_above(cases, found, p, margin, -np.inf)
        if best is None or f > best[0]:
            best = (f, f"aubio {method} {thr}", found)
    if best:
        detectors[best[1]] = best[2]
    got = {}
    lines = [f"**{name}**: {len(cases)} loops ({args.seeds} seeds, {args.rate} Hz), {allm.size} true onsets; "
             f"margin over the {args.window_ms:g} ms after each attack", "",
             "| margin (dB) | onsets | " + " | ".join(f"recall, {d}" for d in detectors) + " |",
             "|---|---|" + "---|" * len(detectors)]
    pairs = {}
    for d, found in detectors.items():
        got[d], pairs[d] = found_truth(cases, found)
    for lo, hi in zip(BINS_DB[:-1], BINS_DB[1:]):
        sel = (allm >= lo) & (allm < hi)
        label = f"under {hi:g}" if lo == -np.inf else (f"{lo:g} and over" if hi == np.inf else f"{lo:g} to {hi:g}")
        cells = " | ".join(f"{got[d][sel].mean():.3f} ({int((~got[d][sel]).sum())} missed)" if sel.any() else "-"
                           for d in detectors)
        lines.append(f"| {label} | {int(sel.sum())} | {cells} |")
    lines += ["", "| truth | onsets | " + " | ".join(f"F at +-25 ms, {d}" for d in detectors) + " |",
              "|---|---|" + "---|" * len(detectors)]
    for floor in (-np.inf,) + FLOORS_DB:
        label = "every onset" if floor == -np.inf else f"onsets at {floor:g} dB and over"
        n = int((allm >= floor).sum())
        lines.append(f"| {label} | {n} | " + " | ".join(f"{f_above(cases, detectors[d], pairs[d], margin, floor):.3f}"
                                                       for d in detectors) + " |")
    lines += ["", f"({time.time() - t0:.0f} s)"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
