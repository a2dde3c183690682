"""Onset detection accuracy on rendered drum loops: our live detector vs aubio's online detectors.

Renders loops from the installed Debian kits (all styles, 85-170 bpm, several
seeds) with exact ground truth (realtime/loops.py), runs our OnsetDetector
through `realtime.onsets.detect` (the live code path, fixed blocks) and
aubio's online `onset` objects, and reports F / precision / recall at +-25 and
+-50 ms (greedy one-to-one matching), timing error of matched onsets and the
detection delay (when the detector reports the onset, after the true onset).
Kits are split into a TUNING set (used while choosing OnsetParams) and a
HELD-OUT set (no parameter fitted on it; on 2026-11-26 its F was one of the
things looked at when choosing among a few finished settings, see
BENCHMARKS.md); both are reported.

    .venv/bin/python bench/onset_eval.py --out bench/results/onsets.md
    .venv/bin/python bench/onset_eval.py --files my.wav --truth my.txt
    .venv/bin/python bench/onset_eval.py --gain-db -24    # the same loops, 24 dB quieter
    .venv/bin/python bench/onset_eval.py --styles dense_hats --bpms 85 110 140 170 --seeds 1   # one style, every tempo
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import STYLES, installed_kits, render_loop  # noqa: E402
from realtime.onset_match import match, read_times  # noqa: E402
from realtime.onset_trees import trees_source  # noqa: E402
from realtime.onsets import OnsetDetector, OnsetParams  # noqa: E402
from report import emit  # noqa: E402

TUNING_KITS = ("GMRockKit", "The Black Pearl 1.0", "TR808EmulationKit", "Millo_MultiLayered2", "Millo_MultiLayered3",
               "lmms", "VariBreaks")
"""Kits looked at while tuning OnsetParams; every other installed kit is held out."""
OTHER_KITS = ("data/audio/soundfonts/Red_Zeppelin_4_LV2/Red_Zeppelin_4pc", "data/audio/freepats/Drum_000")
"""The "other" kits (relative to the repository root, extracted by `drumtimbre build-data`): avldrums' Red Zeppelin
kit and freepats' drums, never used to tune the detector."""
BPMS = (85, 110, 140, 170)
AUBIO_METHODS = ("hfc", "complex", "energy", "specflux", "phase", "kl", "mkl", "specdiff")
AUBIO_THRESHOLDS = (0.05, 0.1, 0.2, 0.4)


@dataclasses.dataclass
class Case:
    name: str
    audio: np.ndarray
    rate: int
    truth: np.ndarray
    hits: list = dataclasses.field(default_factory=list)
    """realtime.loops.Hit of each hit played (a rendered loop's), in time order; empty for a file."""


@dataclasses.dataclass
class Found:
    times: np.ndarray
    """Onset times, s."""
    reported: np.ndarray
    """Stream time (s) at which each onset was reported (end of the block that confirmed it)."""


def cycled_bpm(style_index: int, seed: int) -> int:
    """Tempo (bpm) of the loop of the style_index-th style (STYLES, then ride) and `seed`: cycled through BPMS, so
    that every style meets every tempo over 4 seeds; seed k adds 5k bpm."""
    return BPMS[(style_index + seed) % len(BPMS)] + 5 * seed


def add_loop_options(ap: argparse.ArgumentParser) -> None:
    """--styles and --bpms, which choose the rendered loops of loops()."""
    ap.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES),
                    help="only loops of these styles (default: all)")
    ap.add_argument("--bpms", nargs="+", type=float, metavar="BPM",
                    help="every loop at each of these tempos, 20-400 (default: the tempo cycled through "
                         f"{', '.join(map(str, BPMS))} by style and seed)")


def loop_options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[tuple[str, ...], tuple | None]:
    """(styles, bpms or None) for loops() from add_loop_options' arguments; a tempo out of range is the parser's
    error."""
    if args.bpms and not all(20 <= b <= 400 for b in args.bpms):
        ap.error(f"--bpms {' '.join(f'{b:g}' for b in args.bpms)}: each must be 20-400")
    return tuple(args.styles), tuple(args.bpms) if args.bpms else None


def loops(kits: list[str], seeds: int, seconds: float, rate: int, styles: tuple[str, ...] = STYLES,
          bpms: tuple[float, ...] | None = None) -> list[Case]:
    """One loop per kit x style x seed at cycled_bpm's tempo; or, with `bpms`, one per kit x style x bpm x seed."""
    out = []
    for kit in kits:
        for s, style in enumerate(STYLES):
            if style not in styles:
                continue
            for seed in range(seeds):
                for bpm in bpms or (cycled_bpm(s, seed),):
                    loop = render_loop(style, bpm, seconds, rate, seed=seed, kit=kit)
                    out.append(Case(f"{Path(kit).name}/{style}/{bpm:g}/{seed}", loop.audio, rate, loop.onsets,
                                    loop.hits))
    return out


def ours(audio: np.ndarray, rate: int, block: int = 256, params: OnsetParams = OnsetParams(),
         detect_rate: int | None = None) -> Found:
    """Our detector, fed block by block exactly as the engine does (optionally at a resampled rate)."""
    if detect_rate and detect_rate != rate:
        import soxr

        audio = soxr.resample(audio.astype(np.float64), rate, detect_rate, quality="HQ").astype(np.float32)
        block = max(1, int(round(block * detect_rate / rate)))
        rate = detect_rate
    det = OnsetDetector(rate, params)
    times, rep = [], []
    for i in range(0, audio.size, block):
        for o in det.process(audio[i:i + block]):
            times.append(o.time)
            rep.append(min(i + block, audio.size) / rate)
    for o in det.flush():
        times.append(o.time)
        rep.append(audio.size / rate)
    return Found(np.array(times), np.array(rep))


def aubio_onsets(audio: np.ndarray, rate: int, method: str, threshold: float, hop: int = 256) -> Found:
    """aubio's online onset detector (buf 2*hop); its reported time is aubio's own (delay-compensated) estimate."""
    import aubio

    det = aubio.onset(method, 2 * hop, hop, rate)
    det.set_threshold(threshold)
    det.set_minioi_s(0.03)
    times, rep = [], []
    x = np.concatenate([audio, np.zeros(4 * hop, np.float32)]).astype(np.float32)
    for i in range(0, x.size - hop + 1, hop):
        if det(x[i:i + hop])[0]:
            times.append(det.get_last() / rate)
            rep.append((i + hop) / rate)
    return Found(np.array(times), np.array(rep))


def score(results: list[tuple[Case, Found]]) -> dict:
    """Pooled metrics over all cases."""
    out: dict = {}
    n_ref = sum(c.truth.size for c, _ in results)
    n_est = sum(f.times.size for _, f in results)
    for tol in (0.025, 0.050):
        tp, err, delay = 0, [], []
        for c, f in results:
            pairs = match(f.times, c.truth, tol)
            tp += len(pairs)
            err += [f.times[e] - c.truth[r] for r, e in pairs]
            delay += [f.reported[e] - c.truth[r] for r, e in pairs]
        p = tp / n_est if n_est else 0.0
        r = tp / n_ref if n_ref else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        key = int(round(tol * 1000))
        out[key] = dict(f=f1, p=p, r=r)
        if key == 25:
            a = np.abs(err) * 1000 if err else np.zeros(1)
            d = np.asarray(delay) * 1000 if delay else np.zeros(1)
            out.update(err50=float(np.percentile(a, 50)), err95=float(np.percentile(a, 95)),
                       bias=float(np.mean(err) * 1000) if err else 0.0,
                       delay50=float(np.percentile(d, 50)), delay95=float(np.percentile(d, 95)))
    out["n_ref"] = n_ref
    return out


def row(name: str, m: dict) -> str:
    return (f"| {name} | {m[25]['f']:.3f} | {m[25]['p']:.3f} | {m[25]['r']:.3f} | {m[50]['f']:.3f} | "
            f"{m['err50']:.2f} / {m['err95']:.2f} | {m['delay50']:.1f} / {m['delay95']:.1f} |")


HEADER = ("| detector | F 25 ms | P 25 ms | R 25 ms | F 50 ms | timing err p50 / p95 (ms) | delay p50 / p95 (ms) |\n"
          "|---|---|---|---|---|---|---|")


KIT, STYLE = 0, 1
"""Fields of a rendered case's name (kit/style/bpm/seed)."""


def f_per(cases: list[Case], found: list[Found], field: int) -> dict[str, float]:
    """F at +-25 ms per value of one field of the cases' names (KIT or STYLE); "files" for your own files."""
    groups: dict[str, list] = {}
    for c, f in zip(cases, found):
        parts = c.name.split("/")
        groups.setdefault(parts[field] if len(parts) == 4 else "files", []).append((c, f))
    return {k: score(v)[25]["f"] for k, v in groups.items()}


def run_set(cases: list[Case], aubio_grid: bool, block: int, params: OnsetParams = OnsetParams()
            ) -> tuple[list[tuple[str, dict]], list[str]]:
    """Table rows (label, metrics) and per-style and per-kit F tables (ours vs the best aubio setting)."""
    rows = []
    mine = [ours(c.audio, c.rate, block, params) for c in cases]
    rows.append((f"ours (input rate, block {block})", score(list(zip(cases, mine)))))
    rows.append(("ours (detecting at 16 kHz)",
                 score([(c, ours(c.audio, c.rate, block, params, detect_rate=16000)) for c in cases])))
    styles = {"ours": f_per(cases, mine, STYLE)}
    kits = {"ours": f_per(cases, mine, KIT)}
    if aubio_grid:
        try:
            import aubio  # noqa: F401
        except ImportError:
            print("aubio not installed (pip install aubio-ledfx): skipping it", file=sys.stderr)
            aubio_grid = False
    if aubio_grid:
        best: dict = {}
        for method in AUBIO_METHODS:
            for thr in AUBIO_THRESHOLDS:
                found = [aubio_onsets(c.audio, c.rate, method, thr) for c in cases]
                m = score(list(zip(cases, found)))
                if method not in best or m[25]["f"] > best[method][1][25]["f"]:
                    best[method] = (thr, m, found)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][1][25]["f"])
        for method, (thr, m, _) in ranked:
            rows.append((f"aubio {method} (threshold {thr})", m))
        top, (thr, _, found) = ranked[0]
        styles[f"aubio {top} {thr}"] = f_per(cases, found, STYLE)
        kits[f"aubio {top} {thr}"] = f_per(cases, found, KIT)
    table = []
    for what, cols in (("style", styles), ("kit", kits)):
        names = sorted(cols["ours"])
        table += ([""] if table else []) + [f"| {what} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        table += [f"| {s} | " + " | ".join(f"{v[s]:.3f}" for v in cols.values()) + " |" for s in names]
    return rows, table


def set_lines(name: str, cases: list[Case], aubio_grid: bool, block: int, params: OnsetParams = OnsetParams(),
              unit: str = "loops", style: str = "style") -> list[str]:
    """run_set on one set of cases as markdown lines (printed as they come): its heading (`unit`: what a case is),
    the detectors' table, and F per `style` (the second field of the cases' names) and per kit."""
    n = sum(c.truth.size for c in cases)
    rows, table = run_set(cases, aubio_grid, block, params)
    lines = ["", f"**{name}**: {len(cases)} {unit}, {n} ground-truth onsets", "", HEADER]
    lines += [row(label, m) for label, m in rows]
    lines += ["", f"F at +-25 ms per {style} and per kit ({name.split(' (')[0]}):", ""]
    lines += [t.replace("| style |", f"| {style} |") for t in table]
    print("\n".join(lines[4:]), flush=True)
    return lines


def cost_line(rate: int, block: int = 128, seconds: float = 20.0) -> str:
    """CPU cost of OnsetDetector.process on a dense loop in `block`-sample blocks, and its latency bound."""
    x = render_loop("mixed", 150, seconds, rate, seed=9, kit="synth").audio
    best = float("inf")
    for _ in range(3):
        det = OnsetDetector(rate)
        t = time.perf_counter()
        for i in range(0, x.size, block):
            det.process(x[i:i + block])
        best = min(best, time.perf_counter() - t)
    lat = OnsetDetector(rate).latency_samples
    return (f"Cost: {100 * best / seconds:.2f} % of one core at {rate} Hz in {block}-sample blocks (best of 3, "
            f"{seconds:.0f} s mixed loop); latency_samples bound {lat} = {1000 * lat / rate:.1f} ms.")


def parse_params(ap: argparse.ArgumentParser, text: str | None) -> tuple[dict, OnsetParams]:
    """--params JSON -> (the changed fields, OnsetParams with them); a bad value is the parser's error."""
    try:
        changes = json.loads(text) if text else {}
        return changes, dataclasses.replace(OnsetParams(), **changes)
    except (ValueError, TypeError) as exc:
        ap.error(f"--params {text!r}: {exc}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="loops per kit x style (default 2)")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each loop, s")
    ap.add_argument("--rate", type=int, default=48000, help="loop sample rate, Hz")
    ap.add_argument("--block", type=int, default=256, help="block size fed to our detector")
    ap.add_argument("--no-aubio", action="store_true")
    ap.add_argument("--gain-db", type=float, default=0.0,
                    help="scale every loop by this many dB first (the loops peak at 0.9; e.g. -24: a quiet input)")
    ap.add_argument("--kits", nargs="+", type=Path, default=[], metavar="DIR",
                    help="also loops from these kit folders (one-shots named by drum), scored as a third set, "
                         "'other kits' (e.g. the extracted extra kits of build-data)")
    ap.add_argument("--files", nargs="+", type=Path, help="your own recordings (wav) ...")
    ap.add_argument("--truth", nargs="+", type=Path, help="... and their onset times (s, one per line)")
    add_loop_options(ap)
    ap.add_argument("--out", type=Path, help="write the markdown section here")
    ap.add_argument("--params", default=None, metavar="JSON",
                    help='OnsetParams fields to change for our detector, e.g. \'{"window_s": 0.008}\' (default: none)')
    args = ap.parse_args(argv)
    changes, params = parse_params(ap, args.params)
    styles, bpms = loop_options(ap, args)
    if args.files and (bpms or set(styles) != set(STYLES)):
        ap.error("--styles and --bpms choose rendered loops; with --files there are none")
    t0 = time.time()
    sets: list[tuple[str, list[Case]]] = []
    if args.files:
        import soundfile as sf

        if not args.truth or len(args.truth) != len(args.files):
            ap.error("--files needs one --truth file per audio file")
        cases = []
        for wav, txt in zip(args.files, args.truth):
            try:
                data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
                truth = read_times(txt)
            except Exception as exc:
                print(f"error: {wav} / {txt}: {exc}", file=sys.stderr)
                return 1
            cases.append(Case(str(wav), data.mean(axis=1).astype(np.float32), int(rate), truth))
        sets.append(("your files", cases))
    else:
        kits = installed_kits()
        if not kits:
            kits = ["synth"]
        tuning = [k for k in kits if k in TUNING_KITS]
        held = [k for k in kits if k not in TUNING_KITS]
        if tuning:
            sets.append((f"tuning kits ({', '.join(tuning)})",
                         loops(tuning, args.seeds, args.seconds, args.rate, styles, bpms)))
        if held:
            sets.append((f"held-out kits ({', '.join(held)})",
                         loops(held, args.seeds, args.seconds, args.rate, styles, bpms)))
        if args.kits:
            missing = [str(k) for k in args.kits if not k.is_dir()]
            if missing:
                ap.error(f"--kits: no such folder {', '.join(missing)}")
            others = [str(k) for k in args.kits]
            sets.append((f"other kits ({', '.join(Path(k).name for k in others)})",
                         loops(others, args.seeds, args.seconds, args.rate, styles, bpms)))
    if args.gain_db:
        scale = np.float32(10 ** (args.gain_db / 20))
        sets = [(f"{name}, at {args.gain_db:+g} dB", [dataclasses.replace(c, audio=c.audio * scale) for c in cases])
                for name, cases in sets]
    lines = []
    for name, cases in sets:
        lines += set_lines(name, cases, not args.no_aubio, args.block, params)
    lines += ["", cost_line(args.rate)]
    head = [f"Command: `{' '.join(['.venv/bin/python', 'bench/onset_eval.py'] + (argv if argv is not None else sys.argv[1:]))}`",
            f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - t0:.0f} s wall.",
            f"Our detector: OnsetParams({', '.join(f'{k}={v!r}' for k, v in changes.items()) or 'defaults'}), "
            f"fed {args.block}-sample blocks at {args.rate} Hz, with {trees_source(params.trees)}. "
            f"aubio: buf {2 * 256}, hop 256, minioi 30 ms, thresholds {AUBIO_THRESHOLDS}, best per method shown. "
            "Timing error = |detected - true| of matched onsets (+-25 ms); delay = end of the block that reported "
            "the onset - true onset."]
    emit(head + lines, args.out)
    print(f"{time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
