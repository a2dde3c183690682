"""Each hit's timbre in a played part against the same drum alone: what overlap and cut-short windows cost.

The model's accuracy (BENCHMARKS.md, issue 3) is measured on one-shots alone.
Live, a hit's window holds the ring of the hits before it and is cut short
(zero-padded) at the next onset.  This renders the Hydrogen demo songs
(realtime.songs, written parts with their velocities and swing) on kits, runs
`drumtimbre analyze` on each render (the live engine, exactly what `listen`
sends as the final estimate; with its ring subtraction, unless `--no-ring-subtraction`), matches its hits to the true onsets that are a
single note (no other note within MERGE_S), and compares each hit's 7
descriptors with

  - the AudioCommons labeller on that hit's one-shot file (the reference, as in
    training; `encoder.labeller.label_file`), and
  - the shipped model on that file alone (`drumtimbre predict`'s path),

as MAE in normalised units (0-1, the training scale) and AudioCommons points,
overall, per descriptor, and by the time to the next onset (how much of the
1 s window the hit keeps).

    .venv/bin/python bench/hit_timbre_in_context.py --out bench/results/hit_timbre_in_context.md
    .venv/bin/python bench/hit_timbre_in_context.py --kits own GMRockKit --seconds 20
    .venv/bin/python bench/hit_timbre_in_context.py --no-ring-subtraction    # each window as it sounds
    .venv/bin/python bench/hit_timbre_in_context.py --early [--early-ms 25]   # the early estimates instead
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import TUNING_KITS  # noqa: E402
from report import emit  # noqa: E402
from encoder.descriptors import DESCRIPTORS, normalise, points_per_unit  # noqa: E402
from realtime.loops import MERGE_S, _attack_index, installed_kits, write_loop  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.songs import demo_songs, read_song, render_song  # noqa: E402
from tests.jack_harness import DRUMTIMBRE  # noqa: E402

GAP_EDGES_S = (0.0, 0.125, 0.25, 0.5, 1.0, np.inf)
"""Bins of the time from a hit to the next true onset, s (the engine's window is cut there)."""
RING_EDGES_DB = (-np.inf, -30.0, -20.0, -12.0, -6.0, 0.0, np.inf)
"""Bins of a hit's ring: the part's RMS over the 20 ms before the onset (to 1 ms before) re its RMS over the 20 ms
from the onset, dB."""


def ring_db(audio: np.ndarray, rate: int, t: float) -> float:
    """The ring under a hit at `t` s (see RING_EDGES_DB), dB."""
    k, n, gap = int(round(t * rate)), int(0.020 * rate), int(0.001 * rate)
    before = np.sqrt(np.mean(audio[max(0, k - n): max(1, k - gap)].astype(np.float64) ** 2)) + 1e-9
    return float(20 * np.log10(before / (np.sqrt(np.mean(audio[k: k + n].astype(np.float64) ** 2)) + 1e-9)))


def single_notes(hits: list) -> list[tuple[float, str, float]]:
    """(time s, one-shot file, time to the next hit s) of each hit with no other hit within MERGE_S."""
    t = np.array([h.time for h in hits])
    out = []
    for i, h in enumerate(hits):
        if np.count_nonzero(np.abs(t - h.time) < MERGE_S) == 1:
            later = t[t > h.time + 1e-9]
            out.append((h.time, h.file, float(later[0] - h.time) if later.size else np.inf))
    return out


def analyze(wav: Path, model: str | None = None, extra: list[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """`drumtimbre analyze` on `wav` (with `model`, an ONNX file, default the shipped one; `extra` options):
    (onset times s, (n, 7) descriptors in AudioCommons points)."""
    out = wav.with_suffix(".csv")
    p = subprocess.run(DRUMTIMBRE + ["analyze", str(wav), "-o", str(out)] + (["--model", model] if model else [])
                       + list(extra), capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"drumtimbre analyze {wav}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    return (np.array([float(r["onset_s"]) for r in rows]),
            np.array([[float(r[d]) for d in DESCRIPTORS] for r in rows]).reshape(-1, len(DESCRIPTORS)))


def engine_early(audio: np.ndarray, rate: int, model, ring_subtraction: bool = True, early_ms: float = 25.0,
                 block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The live engine in this process on `audio` (mono, `rate` Hz), fed `block` frames at a time, default settings
    but `early_ms`: (onset times s, (n, 7) AudioCommons points) of its EARLY estimates (what listen sends first)."""
    from realtime.engine import Engine, EngineConfig
    from realtime.osc_out import scale_values

    got: dict[int, tuple[float, np.ndarray]] = {}

    def collect(est) -> None:
        if est.kind == "early":
            got[est.hit_id] = (est.onset_s, np.asarray(scale_values(est.values, "audiocommons"), dtype=float))

    engine = Engine(model, rate, EngineConfig(ring_subtraction=ring_subtraction, early_ms=early_ms), [collect])
    for i in range(0, audio.size, block):
        engine.process_block(audio[i:i + block], 0.0, 0.0)
    engine.finish()
    rows = [got[k] for k in sorted(got)]
    return (np.array([r[0] for r in rows]),
            np.array([r[1] for r in rows]).reshape(-1, len(DESCRIPTORS)))


def alone(files: list[str], model_path: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], object]:
    """(labeller, model) AudioCommons points of each one-shot file alone, and the model (default: the shipped one)."""
    from tqdm import tqdm

    from encoder.labeller import label_file
    from realtime.runtime import load_model, predict_files

    model = load_model(model_path)
    predicted = {str(p): v for p, v, _ in predict_files(model, files) if v is not None}
    labels = {f: label_file(f) for f in tqdm(files, desc="labelling the one-shots", unit="file")}
    return labels, predicted, model


def cut_alone(model, pairs: list[tuple[str, float]], preroll_s: float = 0.003) -> np.ndarray:
    """The shipped model on each (file, gap s) one-shot alone, cut as the engine cuts a hit's window: from
    `preroll_s` before its attack (as realtime.loops places it: the first sample at ATTACK_DB re its peak) to `gap`
    after it, then peak-normalised
    and zero-padded to 1 s -> (n, 7) AudioCommons points."""
    from encoder.audio import SAMPLE_RATE, load, pad

    clips = {f: load(f).samples for f in dict.fromkeys(f for f, _ in pairs)}  # each file read once
    batch = []
    for f, gap in pairs:
        x = clips[f]
        start = max(0, _attack_index(x) - int(preroll_s * SAMPLE_RATE))
        y = x[start: start + int(min(gap + preroll_s, 1.0) * SAMPLE_RATE)]
        batch.append(pad(y / (np.max(np.abs(y)) or 1.0)))
    return np.concatenate([model.predict_points(np.stack(batch[i:i + 256])) for i in range(0, len(batch), 256)])


def mae_line(name: str, a: np.ndarray, b: np.ndarray) -> str:
    """A table row: MAE normalised and in points, overall and per descriptor, of (n, 7) points a vs b."""
    norm = np.abs(normalise(a) - normalise(b))
    pts = np.abs(a - b)
    return (f"| {name} | {len(a)} | {norm.mean():.4f} | {pts.mean():.2f} | "
            + " | ".join(f"{v:.2f}" for v in pts.mean(axis=0)) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kits", nargs="+", default=None,
                    help="kits to play the songs on: 'own' (the kit each was written for), hydrogen kit names, 'lmms' "
                         "or folders (default: own and the held-out Debian kits of onset_eval)")
    ap.add_argument("--seconds", type=float, default=40.0, help="cut each song to this many seconds (default 40)")
    ap.add_argument("--rate", type=int, default=48000, help="sample rate of the renders, Hz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="ONNX model to judge (default: the shipped one)")
    ap.add_argument("--no-ring-subtraction", action="store_true",
                    help="run analyze with --no-ring-subtraction (each window as it sounds)")
    ap.add_argument("--early", action="store_true",
                    help="judge the early estimates (listen's first message) instead of the final ones; the engine "
                         "runs in this process, and 'cut there' is the one-shot cut where the early window ends")
    ap.add_argument("--early-ms", type=float, default=25.0,
                    help="with --early: audio after the onset in the early window, ms (listen's --early-ms, default 25)")
    ap.add_argument("--lmms", action="store_true",
                    help="the drum parts of the installed LMMS demo projects (realtime.lmms_projects) instead of the "
                         "Hydrogen demo songs")
    ap.add_argument("--out", type=Path, help="write the markdown here")
    args = ap.parse_args(argv)
    songs = demo_songs(args.lmms)
    if not songs:
        ap.error("no demo songs installed (apt-get install hydrogen-data, or lmms-common for --lmms)")
    kits = args.kits or ["own"] + [k for k in installed_kits() if k not in TUNING_KITS]
    t0 = time.time()
    parsed = {path: read_song(path) for path in songs}
    found = []  # (kit, file, gap s, engine points, ring dB)
    n_single = 0
    if args.early:
        from realtime.runtime import load_model
        early_model = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        for kit in kits:
            for path, song in parsed.items():
                loop = render_song(song, args.rate, args.seed, None if kit == "own" else kit, args.seconds)
                if args.early:  # in this process: the render itself, no file
                    times, points = engine_early(loop.audio, loop.sample_rate, early_model,
                                                 not args.no_ring_subtraction, args.early_ms)
                else:
                    wav, _ = write_loop(loop, Path(tmp) / f"{Path(kit).name}_{path.stem}.wav")
                    times, points = analyze(wav, args.model,
                                            ["--no-ring-subtraction"] if args.no_ring_subtraction else [])
                singles = single_notes(loop.hits)
                n_single += len(singles)
                ref = np.array([s[0] for s in singles])
                for r, e in match(times, ref, 0.025):
                    found.append((Path(kit).name, singles[r][1], singles[r][2], points[e],
                                  ring_db(loop.audio, loop.sample_rate, singles[r][0])))
            print(f"{kit}: {len(found)} hits matched so far", file=sys.stderr, flush=True)
    files = sorted({x[1] for x in found})
    labels, predicted, model = alone(files, args.model)
    kept = [x for x in found if x[1] in predicted]
    engine = np.array([x[3] for x in kept])
    lab = np.array([labels[x[1]] for x in kept])
    mod = np.array([predicted[x[1]] for x in kept])
    gap = np.array([x[2] for x in kept])
    ring = np.array([x[4] for x in kept])
    early_s = args.early_ms / 1000.0 if args.early else np.inf
    cut = cut_alone(model, [(x[1], min(x[2], early_s)) for x in kept])
    head = ("| compared | hits | MAE (0-1) | MAE (points) | " + " | ".join(DESCRIPTORS) + " |\n|---|---|---|---|"
            + "---|" * len(DESCRIPTORS))
    lines = [f"Command: `{' '.join(['.venv/bin/python', 'bench/hit_timbre_in_context.py'] + (argv if argv is not None else sys.argv[1:]))}`",
             f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{time.time() - t0:.0f} s wall. Estimates: {f'early ({args.early_ms:g} ms)' if args.early else 'final'}. "
             f"Model: {args.model or 'the shipped one'}; ring subtraction "
             f"{'off' if args.no_ring_subtraction else 'on (the default)'}.",
             f"Songs: {', '.join(p.stem for p in songs)}, {args.seconds:g} s each at {args.rate} Hz, seed {args.seed}; "
             f"kits: {', '.join(Path(k).name for k in kits)}. {n_single} single-note onsets, {len(kept)} found by the "
             f"engine (+-25 ms), {len(files)} one-shot files. One point = 1/100 of the AudioCommons scale; one "
             f"normalised unit = {', '.join(f'{v:.0f}' for v in points_per_unit())} points.", "",
             "All hits (per-descriptor columns: MAE in points):", "", head,
             mae_line("model on the one-shot alone vs labeller", mod, lab),
             mae_line("model on the one-shot alone, cut " + (f"at {args.early_ms:g} ms (the early window)" if args.early
                                                              else "where the next onset comes") + ", vs labeller",
                      cut, lab),
             mae_line("engine, hit in the part, vs labeller", engine, lab),
             mae_line("engine, hit in the part, vs model alone", engine, mod), "",
             "MAE against the labeller (0-1) by the time to the next onset (the engine's window is cut there), by the "
             "ring of earlier hits under the hit (the part's RMS over the 20 ms before the onset re the 20 ms from it) "
             "and by kit:", "", "| next onset after (s) / ring (dB) / kit | hits | model alone | alone, cut there | "
             "engine, in the part |", "|---|---|---|---|---|"]

    def mae(x: np.ndarray, m: np.ndarray) -> str:
        return f"{np.abs(normalise(x[m]) - normalise(lab[m])).mean():.4f}"

    names = np.array([x[0] for x in kept])
    groups = [(f"{lo:g}-{hi:g} s", (gap >= lo) & (gap < hi)) for lo, hi in zip(GAP_EDGES_S[:-1], GAP_EDGES_S[1:])]
    groups += [(f"ring {lo:g} to {hi:g} dB", (ring >= lo) & (ring < hi))
               for lo, hi in zip(RING_EDGES_DB[:-1], RING_EDGES_DB[1:])]
    for label, m in groups + [(k, names == k) for k in dict.fromkeys(names)]:
        if m.any():
            lines.append(f"| {label} | {int(m.sum())} | {mae(mod, m)} | {mae(cut, m)} | {mae(engine, m)} |")
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
