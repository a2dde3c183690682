"""Train every architecture on the same grouped split, evaluate on held-out kits, and tabulate.

    nice -n 5 .venv/bin/python bench/train_all.py --data data/labels/synth.csv data/labels/debian.csv \
        --runs data/runs/all --epochs 60 --mid-epochs 12 --big-epochs 3 --baseline --md bench/results/training.md

A name in --archs may also be an existing run folder under --runs (e.g. a run
trained with --oversample): it is evaluated, not retrained.  Every run uses the same seed, so `encoder.splits.assign_by_source` gives the
same grouped split (whole Debian kits and whole synth groups held out).  Rows
already trained (RUN/run.json present) are reused; `--archs` picks a subset.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder import dataset, splits  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.evaluate import evaluate, keras_predictor, write_report  # noqa: E402
from encoder.manifest import load_manifests  # noqa: E402
from report import emit  # noqa: E402  (bench/report.py)

ARCHS = ("logmel_stats", "logmel", "logmel_wide", "logmel_fine", "pooled", "pooled_wide", "seven_filters", "small", "mid",
         "big")


def onnx_ms_per_hit(run: Path, calls: int = 300) -> float:
    """ONNX Runtime p50 wall time of one hit (batch 1, one thread) of RUN/model.keras, exported in memory, ms."""
    import time

    import onnxruntime as ort

    from export.keras_to_onnx import load_keras_model, to_onnx

    proto = to_onnx(load_keras_model(run / "model.keras"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((1, 16000, 1)) * np.exp(-np.arange(16000) / 3000.0)[None, :, None]).astype(
        np.float32)
    for _ in range(20):
        sess.run(None, {name: x})
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def test_report(run: Path, data: list[str]) -> dict:
    """Evaluate RUN/model.keras on RUN's test split (writes RUN/evaluation/)."""
    manifest = load_manifests(data)
    saved = splits.load(run / "split.csv")
    train = splits.in_split(manifest, saved, "train")
    test = splits.in_split(manifest, saved, "test")
    x = dataset.load_audio(test, cache_dir=run.parent / ".cache", progress=False)
    report, pred = evaluate(keras_predictor(run / "model.keras"), test, x, train.labels(),
                            f"median of the run's {len(train)} training labels")
    write_report(report, pred, normalise(test.labels()), run / "evaluation", f"{run.name} on held-out test")
    return report


def row(name: str, params: str, s_epoch: str, epochs: str, rep: dict, ms: str = "-") -> str:
    src = rep["by_source"]
    deb = next((v for k, v in src.items() if k.endswith("debian.csv")), None)
    syn = next((v for k, v in src.items() if "synth" in k), None)
    w = rep["by_window_ms"]
    cells = [name, params, s_epoch, epochs, f"{rep['mae']:.4f}",
             f"{deb['mae']:.4f}" if deb else "-", f"{syn['mae']:.4f}" if syn else "-",
             f"{w['25']['mae']:.4f}", f"{w['100']['mae']:.4f}", f"{w['1000']['mae']:.4f}",
             f"{deb['by_window_ms']['25']:.4f}" if deb else "-", ms]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--runs", type=Path, default=Path("data/runs/all"))
    p.add_argument("--archs", nargs="+", default=list(ARCHS))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--big-epochs", type=int, default=6, help="epoch bound for the slow 'big' model")
    p.add_argument("--mid-epochs", type=int, default=15, help="epoch bound for the slow 'mid' model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--oversample", nargs="*", default=[], metavar="SOURCE=N",
                   help="as drumtimbre train --oversample, for every architecture")
    p.add_argument("--md", type=Path, default=None, help="write the markdown table here")
    p.add_argument("--baseline", action="store_true", help="also train and evaluate the gradient boosting baseline")
    args = p.parse_args(argv)

    from encoder.train import TrainConfig, train

    oversample = {k: int(v) for k, v in (item.split("=", 1) for item in args.oversample)}

    lines = ["| model | parameters | training s/epoch | epochs | test MAE | held-out Debian kits MAE | "
             "held-out synth groups MAE | MAE @25 ms | MAE @100 ms | MAE @1000 ms | Debian @25 ms | inference ms/hit |",
             "|" + "---|" * 12]
    median_row = None
    first_run = None
    for arch in args.archs:
        run = args.runs / arch
        if not (run / "run.json").exists():
            epochs = {"big": args.big_epochs, "mid": args.mid_epochs}.get(arch, args.epochs)
            train(TrainConfig(data=args.data, arch=arch, out=run, epochs=epochs, seed=args.seed, grouped=True,
                              patience=8, progress=False, oversample=oversample))
        info = json.loads((run / "run.json").read_text())
        rep = test_report(run, args.data)
        first_run = first_run or run
        lines.append(row(arch, f"{info['parameters']:,}", f"{info['seconds_per_epoch']:.1f}",
                         f"{info['epochs_run']}/{info['epochs_max']}", rep, f"{onnx_ms_per_hit(run):.3f}"))
        print(lines[-1], flush=True)
        if median_row is None:
            med = rep["median_baseline"]
            src = {k: v["median_baseline_mae"] for k, v in rep["by_source"].items()}
            deb = next((v for k, v in src.items() if k.endswith("debian.csv")), None)
            syn = next((v for k, v in src.items() if "synth" in k), None)
            median_row = (f"| median of training labels | 0 | - | - | {med['mae']:.4f} | "
                          f"{deb:.4f} | {syn:.4f} | {med['mae']:.4f} | {med['mae']:.4f} | {med['mae']:.4f} | "
                          f"{deb:.4f} | - |")
    if median_row:
        lines.append(median_row)
    if args.baseline and first_run is not None:
        from baseline import run_baseline  # bench/baseline.py

        rep = run_baseline(first_run, args.data, args.runs / "baseline", args.seed)
        lines.append(row("gradient boosting on log-mel stats", "-", "-", "-", rep).replace(
            "| - | - | - |", f"| - | fit {rep['fit_seconds']:.0f} s | - |", 1))
        print(lines[-1], flush=True)
    emit(lines, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
