"""Fit the onset detector's candidate classifier (realtime/onset_trees.json) on rendered loops.

Renders loops (realtime.loops: every style, ride grooves too, 85-185 bpm, and
more loops of dense hats, `--dense-seeds`, up to 220 bpm; 48 kHz) from every
kit found (unless `--no-alone`, the odd seeds at 44.1 kHz, and every one-shot of
each kit alone in turn, so that a decay's flicker is seen without a next hit),
at the nominal level and 20 dB under it, and white noise with no hit in it
(`--noise-seeds`); runs the live detector
over each with an accept-all classifier, keeping every candidate peak
under the fixed thresholds with its features (realtime.onset_trees.FEATURES);
labels such a candidate a hit when it matches (+-25 ms, one-to-one) a true
onset that no peak above the fixed thresholds matches, or lies within
`--near-ms` of one (a candidate that is no hit within `--found-ms` of an
onset the fixed thresholds found is left out: the same hit either way), and
fits scikit-learn's
HistGradientBoostingClassifier.  Before the fit it reports a
leave-one-group-out estimate: for each kit group (kits that share samples are
one group: FluidR3's kits, TimGM6mb's, GMRockKit and The Black Pearl), the live detector runs over its
loops with trees fitted on the other groups, and with the fixed thresholds
alone, and F at +-25 ms is counted.

Kits: onset_eval's Debian tuning and held-out kits, the General MIDI SoundFont
kits (bench/gm_kits.py), the "other" kits, the Sonic Pi kit
(bench/sonic_pi_kit.py) and the synthetic kit; `--exclude` leaves sets out, so
that a benchmark can run trees that never saw its kits
(DRUMTIMBRE_ONSET_TREES=FILE).  Needs the `train` extra (scikit-learn) and
`build-data`'s extracted kits.  About 7 minutes with the estimate on 2 cores.

    .venv/bin/python scripts/fit_onset_trees.py [--seeds 4] [--dense-seeds 8] [--noise-seeds 4] [--near-ms 10] [--found-ms 10]
        [--no-alone] [--exclude held-out other sonic_pi] [--params JSON] [--out FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from encoder.trees import from_sklearn  # noqa: E402
from onset_eval import OTHER_KITS, TUNING_KITS, cycled_bpm, parse_params  # noqa: E402  (its kits, tempos, --params)
from realtime.loops import STYLES, add_shot, installed_kits, load_kit, merge_close, render_loop  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.onset_trees import TREES_PATH, forest_to_json  # noqa: E402
from realtime.onsets import OnsetParams, collect_candidates, detect  # noqa: E402

GM_KITS = ROOT / "data" / "audio" / "gm_kits"
SHARED = {"GMRockKit": "GMRockKit+BlackPearl", "The Black Pearl 1.0": "GMRockKit+BlackPearl"}
"""Debian kits holding the same sample files (81 of GMRockKit's 86 are The Black Pearl's): one group each."""
SONIC_PI_KIT = ROOT / "data" / "audio" / "sonic_pi_kit"
GAINS_DB = (0.0, -20.0)
NOISE_DB = (0.0, -10.0, -20.0)
"""Levels of the white-noise jobs, dB re a peak of 0.9."""
RATES = (48000, 44100)
SEEDS, DENSE_SEEDS, NOISE_SEEDS = 4, 8, 4
"""The defaults of --seeds, --dense-seeds and --noise-seeds."""
NEAR_S = 0.010
"""A candidate this close (s) to a true onset the fixed thresholds missed is a hit, even when another matched it."""
FOUND_S = 0.010
"""A candidate that is no hit this close (s) to a true onset the fixed thresholds found is left out of the fit (0:
none): it is the same hit, whether the trees take it or not (min_interval_s keeps one onset)."""
TREE_PARAMS = dict(max_iter=300, max_depth=5, learning_rate=0.1, l2_regularization=1.0, min_samples_leaf=40)


def kit_sets() -> dict[str, list[tuple[str, str]]]:
    """Set name -> (group, kit) pairs of every kit found: onset_eval's Debian tuning and held-out kits, the
    General MIDI SoundFont kits (bench/gm_kits.py; FluidR3's kits are one group, TimGM6mb's another; Debian kits
    sharing samples are one group, `SHARED`), the "other" kits (avldrums' Red Zeppelin, freepats), the Sonic Pi
    kit (bench/sonic_pi_kit.py), the synthetic kit."""
    debian = installed_kits()
    sets = {"tuning": [(SHARED.get(k, k), k) for k in TUNING_KITS if k in debian],
            "held-out": [(k, k) for k in debian if k not in TUNING_KITS],
            "gm": [(d.name.split("_")[0], str(d)) for d in sorted(GM_KITS.glob("*")) if d.is_dir()],
            "other": [(Path(k).name, str(ROOT / k)) for k in OTHER_KITS if (ROOT / k).is_dir()],
            "sonic_pi": [("sonic_pi_kit", str(SONIC_PI_KIT))] if SONIC_PI_KIT.is_dir() else [],
            "synthetic": [("synthetic", "synth")]}
    for name, hint in (("gm", "bench/gm_kits.py"), ("other", "drumtimbre build-data"),
                       ("sonic_pi", "bench/sonic_pi_kit.py")):
        if not sets[name]:
            print(f"note: no {name} kits found (made by {hint}); fitting without them", file=sys.stderr)
    return sets


def make_jobs(kits: list[tuple[str, str]], seeds: int, dense_seeds: int, alone: bool, params: OnsetParams,
              noise_seeds: int = 0) -> list[tuple]:
    """The fit's jobs, (group, kit, style, bpm, seed, gain dB, rate Hz, OnsetParams): for each (group, kit), every
    style and the ride grooves at `seeds` seeds (cycled_bpm's tempos), dense hats at `dense_seeds` seeds more, each
    at both levels (`alone`: the odd seeds at 44.1 kHz, and every one-shot alone at both levels); with the
    synthetic kit among `kits`, `noise_seeds` x 6 s of white noise at each of NOISE_DB (no hit), in its group."""
    rates = RATES if alone else RATES[:1]
    dense = STYLES.index("dense_hats")
    jobs = [(g, k, style, cycled_bpm(s, seed), seed, gain, rates[seed % len(rates)], params)
            for g, k in kits for s, style in enumerate(STYLES + ("ride",)) for seed in range(seeds)
            for gain in GAINS_DB]
    jobs += [(g, k, "dense_hats", cycled_bpm(dense, seed), seed, gain, rates[seed % len(rates)], params)
             for g, k in kits for seed in range(seeds, seeds + dense_seeds) for gain in GAINS_DB]
    if noise_seeds and any(g == "synthetic" for g, _ in kits):  # (with the synthetic kit's group)
        jobs += [("synthetic", "synth", "noise", 0, seed, gain, RATES[0], params)
                 for seed in range(noise_seeds) for gain in NOISE_DB]
    if alone:
        jobs += [(g, k, "alone", 0, 0, gain, rates[i % len(rates)], params)
                 for g, k in kits for i, gain in enumerate(GAINS_DB)]
    return jobs


def render(job: tuple) -> tuple[np.ndarray, int, np.ndarray]:
    """A job's audio (float32), its rate (Hz) and its true onsets (s).  Style "alone": every one-shot of the kit
    in turn, 0.1 s after the last one has sounded (at most 1.5 s of it), so a decay's flicker is seen alone."""
    group, kit, style, bpm, seed, gain_db, rate, _ = job
    if style == "noise":  # steady white noise (seeded), no hit: its flicker is no onset
        noise = np.random.default_rng(1000 + seed).standard_normal(int(6.0 * rate))
        return (noise * (0.9 / np.max(np.abs(noise))) * 10 ** (gain_db / 20)).astype(np.float32), rate, np.zeros(0)
    if style == "alone":
        shots = [shot for pool in load_kit(kit, rate).values() for shot in pool]
        gap, at, starts = int(0.1 * rate), int(0.1 * rate), []
        for shot in shots:
            at += shot.attack
            starts.append(at)
            at += min(shot.samples.size - shot.attack, int(1.5 * rate)) + gap
        audio = np.zeros(at + gap)
        for shot, start in zip(shots, starts):
            add_shot(audio, shot, start, 0.0)
        audio = (audio * (0.9 / max(float(np.max(np.abs(audio))), 1e-9))).astype(np.float32)
        truth = merge_close(np.array(starts) / rate)
    else:
        loop = render_loop(style, bpm, 6.0, rate, seed=seed, kit=kit)
        audio, truth = loop.audio, loop.onsets
    return audio * np.float32(10 ** (gain_db / 20)), rate, truth


def candidates(job: tuple, near_s: float = NEAR_S, found_s: float = FOUND_S) -> tuple:
    """One job's candidates under the fixed thresholds: (group, features (n, FEATURES), hit labels (n,)); a hit
    matches (+-25 ms, one-to-one) a true onset that no candidate above the fixed thresholds matches, or lies within
    `near_s` (s) of such an onset (a second peak of one soft hit: the detector's min_interval_s keeps one onset).
    A candidate that is no hit but lies within `found_s` (s) of a true onset the fixed thresholds matched is left
    out: taken or not, that hit is found once."""
    audio, rate, truth = render(job)
    times, x, fixed = collect_candidates(audio, rate, params=job[-1])
    t_under, x = times[~fixed], x[~fixed]  # the candidates under the fixed thresholds
    # a hit: matches a true onset that no candidate passing the fixed thresholds matches (those are onsets anyway)
    taken = {r for r, _ in match(times[fixed], truth, 0.025)}
    rest = np.array([t for r, t in enumerate(truth) if r not in taken])
    hits = {e for _, e in match(t_under, rest, 0.025)}
    y = np.array([e in hits for e in range(t_under.size)], bool)
    if near_s > 0 and rest.size and y.size:
        y |= _nearest(t_under, rest) <= near_s
    if found_s > 0 and taken and y.size:
        keep = y | (_nearest(t_under, truth[sorted(taken)]) > found_s)
        x, y = x[keep], y[keep]
    return job[0], x, y


def _nearest(times: np.ndarray, to: np.ndarray) -> np.ndarray:
    """For each of `times` (s), the distance to the nearest of `to` (s, not empty)."""
    return np.min(np.abs(times[:, None] - to[None, :]), axis=1)


def collect(jobs: list[tuple], near_s: float = NEAR_S, found_s: float = FOUND_S
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every job's candidates (`candidates`, on 2 processes): features (n, FEATURES), hit labels (n,) and each one's
    kit group (n,)."""
    with Pool(min(2, len(jobs))) as pool:
        results = pool.map(partial(candidates, near_s=near_s, found_s=found_s), jobs, chunksize=4)
    x = np.concatenate([r[1] for r in results])
    y = np.concatenate([r[2] for r in results])
    groups = np.concatenate([[r[0]] * r[2].size for r in results]) if y.size else np.zeros(0, str)
    return x, y, groups


def scored(job_forest: tuple) -> tuple[str, int, int, int]:
    """(group, true positives, onsets found, true onsets) at +-25 ms of the live detector on one job: with the
    given trees, or with the fixed thresholds (trees=False) when the forest is None."""
    job, forest = job_forest
    audio, rate, truth = render(job)
    found = detect(audio, rate, 128, dataclasses.replace(job[-1], trees=forest is not None), forest)
    return job[0], len(match(found, truth, 0.025)), found.size, truth.size


def f_line(rows: list[tuple[str, int, int, int]]) -> str:
    """'F (P / R)' of scored() rows."""
    tp, n_est, n_ref = (sum(r[i] for r in rows) for i in (1, 2, 3))
    return f"{2 * tp / max(n_est + n_ref, 1):.4f} ({tp / max(n_est, 1):.3f} / {tp / max(n_ref, 1):.3f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=SEEDS,
                    help="loops per kit x style x level (default 4: each style near each of onset_eval's four tempos, "
                         "seed k adding 5k bpm; 2, the default before 2026-11-27, left dense hats at 110 and 145 bpm "
                         "only)")
    ap.add_argument("--dense-seeds", type=int, default=DENSE_SEEDS, metavar="N",
                    help="N more loops of dense hats per kit x level, seeds after --seeds (default 8, since "
                         "2026-11-27: dense hats hold most of the soft hits to rescue, which the trees, fitted on every "
                         "style alike, turned down; their tempos then reach 220 bpm; BENCHMARKS.md)")
    ap.add_argument("--noise-seeds", type=int, default=NOISE_SEEDS, metavar="N",
                    help="N x 6 s of white noise at 0, -10 and -20 dB re a peak of 0.9, no hit in it, in the synthetic "
                         "kit's group, so none with --exclude synthetic (default 4, since 2026-11-27: without them one "
                         "fit found 2.4 times as many false onsets in loud white noise as another; BENCHMARKS.md)")
    ap.add_argument("--near-ms", type=float, default=NEAR_S * 1000, metavar="MS",
                    help="also label a hit every candidate under the fixed thresholds within MS of a true onset they "
                         "missed, not only the one matched to it (default 10, since 2026-11-27: two peaks of one soft "
                         "hit, the second labelled a miss, taught the trees to doubt both; 0: one-to-one only)")
    ap.add_argument("--found-ms", type=float, default=FOUND_S * 1000, metavar="MS",
                    help="leave out of the fit every candidate under the fixed thresholds that is no hit but lies "
                         "within MS of a true onset they found: taken or not, that hit is found once (default 10, "
                         "since 2026-11-28: labelled misses, such peaks taught the trees to doubt soft hits that "
                         "look like them; 0: keep them; BENCHMARKS.md)")
    ap.add_argument("--out", type=Path, default=TREES_PATH, help=f"where to write the trees (default {TREES_PATH})")
    ap.add_argument("--no-cv", action="store_true", help="skip the leave-one-group-out estimate")
    ap.add_argument("--alone", action=argparse.BooleanOptionalAction, default=True,
                    help="also every one-shot of each kit alone, and the odd seeds at 44.1 kHz (default since "
                         "2026-11-27, with 4 seeds: fewer retriggers on lone cymbals and noise, F within 0.003 of "
                         "without on unseen kits; with 2 seeds it cost 0.003 of F on the held-out kits; BENCHMARKS.md)")
    ap.add_argument("--exclude", nargs="+", default=[], metavar="SET",
                    help="leave these kit sets out (tuning, held-out, gm, other, sonic_pi, synthetic), to benchmark "
                         "trees on kits they never saw")
    ap.add_argument("--params", metavar="JSON",
                    help="OnsetParams fields to change for the detector the trees are fitted (and estimated) with, as "
                         "onset_eval.py's --params; the detector must then run with the same fields")
    args = ap.parse_args(argv)
    changes, params = parse_params(ap, args.params)
    if not 0 <= args.near_ms <= 25:
        ap.error(f"--near-ms {args.near_ms}: expected 0-25 (the match window is 25 ms)")
    if not 0 <= args.found_ms <= 30:
        ap.error(f"--found-ms {args.found_ms}: expected 0-30 (min_interval_s keeps one onset in 30 ms)")
    if args.seeds < 1 or args.dense_seeds < 0 or args.noise_seeds < 0:
        ap.error(f"--seeds {args.seeds} --dense-seeds {args.dense_seeds} --noise-seeds {args.noise_seeds}: need at "
                 "least 1, 0 and 0")
    if not params.trees_on:
        ap.error(f"--params {args.params}: the trees need trees = true and post_frames >= 1 (no candidates otherwise)")
    sets = kit_sets()
    unknown = set(args.exclude) - set(sets)
    if unknown:
        ap.error(f"--exclude {' '.join(sorted(unknown))}: kit sets are {', '.join(sets)}")
    kits = [gk for name, pairs in sets.items() if name not in args.exclude for gk in pairs]
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    jobs = make_jobs(kits, args.seeds, args.dense_seeds, args.alone, params, args.noise_seeds)
    t0 = time.time()
    x, y, groups = collect(jobs, args.near_ms / 1000, args.found_ms / 1000)
    print(f"{len(jobs)} loops and kits alone, {y.size} candidates ({int(y.sum())} hits) in {time.time() - t0:.0f} s")
    if not args.no_cv:
        names = sorted(set(groups))
        forests = {g: from_sklearn([HistGradientBoostingClassifier(**TREE_PARAMS, random_state=0)
                                    .fit(x[groups != g], y[groups != g])]) for g in names}
        with Pool(2) as pool:
            cv = pool.map(scored, [(j, forests[j[0]]) for j in jobs], chunksize=4)
            fixed = pool.map(scored, [(j, None) for j in jobs], chunksize=4)
        print(f"leave-one-group-out: the live detector on each group's loops with trees fitted on the other groups "
              f"(accept > {params.accept_prob}), and with the fixed thresholds; F (P / R) at +-25 ms")
        for g in names:
            print(f"  {g:22s} trees {f_line([r for r in cv if r[0] == g])}   "
                  f"thresholds {f_line([r for r in fixed if r[0] == g])}")
        print(f"  {'all':22s} trees {f_line(cv)}   thresholds {f_line(fixed)}")
    model = HistGradientBoostingClassifier(**TREE_PARAMS, random_state=0).fit(x, y)
    meta = {"fitted_by": "scripts/fit_onset_trees.py", "seeds": args.seeds, "dense_seeds": args.dense_seeds,
            "noise_seeds": args.noise_seeds if any(j[2] == "noise" for j in jobs) else 0, "near_ms": args.near_ms,
            "found_ms": args.found_ms,
            "loops": len(jobs), "alone": args.alone,
            "candidates": int(y.size), "hits": int(y.sum()), "excluded": args.exclude,
            "groups": sorted(set(groups.tolist())),
            "params": TREE_PARAMS, "scikit_learn": sklearn.__version__,
            **({"onset_params": changes} if changes else {})}
    forest_to_json(from_sklearn([model]), args.out, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
