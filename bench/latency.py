"""Per-hit inference latency: ONNX Runtime vs Keras vs timbral_models, batch 1, one thread.

For every architecture in encoder.models.ARCHITECTURES: the trained model of
`--runs/<arch>/model.keras` when there is one, else randomly initialised
(seed 0) weights -- the table says which.  Each model is exported (with the
parity check) and timed on the same real Debian kit clips:

* ONNX Runtime, `realtime.runtime.load_model(threads=1)`, `predict` on (1, 16000)
* Keras eager, `model(x, training=False)`
* Keras `model.predict(x, verbose=0)`
* timbral_models, `encoder.labeller.label_clip` on the prepared (unpadded) clip, once for all

TensorFlow runs with one intra-op and one inter-op thread.  Optionally
(`--variants ARCH...`) ONNX Runtime graph optimisation levels and int8
dynamic quantisation are timed and their accuracy compared with the float32
model (and, for trained runs, against the labels of the run's test split).
Writes a Markdown section to `--out`.

    .venv/bin/python bench/latency.py --runs data/runs --variants pooled --out bench/results/export.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# One thread everywhere (BLAS under numpy/librosa too), set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from report import emit  # noqa: E402  (bench/report.py)
def percentiles_ms(times_s: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    a = np.asarray(times_s) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def time_calls(fn, inputs: list[np.ndarray], reps: int, warmup: int = 5, cpu: list[float] | None = None
               ) -> list[float]:
    """Wall-clock seconds per call of fn(x), cycling through `inputs`, after `warmup` untimed calls.

    If `cpu` is given, the process CPU seconds of each call are appended to it (unaffected by
    other jobs taking the cores, unlike wall time).
    """
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    out = []
    for i in range(reps):
        x = inputs[i % len(inputs)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return out


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()}-core {platform.machine()} ({cpu}), Python {platform.python_version()}"


def load_or_build(arch: str, runs: Path | None):
    """(keras model, 'trained (<run dir>)' or 'random init', run dir or None)."""
    import keras

    from encoder.models import build
    from export.keras_to_onnx import load_keras_model

    if runs is not None and (runs / arch / "model.keras").is_file():
        return load_keras_model(runs / arch / "model.keras"), f"trained ({runs / arch})", runs / arch
    keras.utils.set_random_seed(0)
    return build(arch), "random init", None


def test_split(run_dir: Path, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(inputs (n, 16000), labels (n, 7) points) of the run's test split, at most `limit` clips."""
    import csv
    import json

    from encoder.audio import AudioError, model_input
    from encoder.manifest import read_label_csv

    info = json.loads((run_dir / "run.json").read_text())
    labels = {}
    for d in info.get("data", []):
        p = REPO / d
        if p.suffix == ".csv" and p.is_file():
            for r in read_label_csv(p).records:
                labels[os.path.normpath(r.path)] = r.labels
    with open(run_dir / "split.csv", newline="") as f:
        test = [os.path.normpath(REPO / r["path"]) for r in csv.DictReader(f) if r["split"] == "test"]
    xs, ys = [], []
    for p in test:
        lab = labels.get(p)
        if lab is None:
            continue
        try:
            xs.append(model_input(p))
        except (AudioError, OSError):
            continue
        ys.append(lab)
        if len(xs) >= limit:
            break
    return (np.stack(xs), np.array(ys)) if xs else None


def variants(onnx_path: Path, clips: np.ndarray, reps: int, labelled, tmp: Path) -> list[str]:
    """Markdown rows: optimisation levels and int8 dynamic quantisation of one exported model."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from realtime.runtime import load_model

    base = load_model(onnx_path, threads=1)
    ref = base.predict_points(clips)
    ref_lab = base.predict_points(labelled[0]) if labelled is not None else None
    inputs = [c[None] for c in clips]
    rows = []
    pre = tmp / "pre.onnx"
    int8 = tmp / "int8.onnx"
    int8_dense = tmp / "int8_dense.onnx"
    try:
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(int8), weight_type=QuantType.QInt8)
        quantize_dynamic(str(pre), str(int8_dense), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        candidates = [(f"fp32, graph opt '{lvl}'", onnx_path, lvl) for lvl in ("disable", "basic", "extended", "all")]
        candidates.append(("int8 dynamic (QInt8 weights, all Conv + MatMul), opt 'all'", int8, "all"))
        candidates.append(("int8 dynamic (QInt8 weights, Dense/MatMul only), opt 'all'", int8_dense, "all"))
    except Exception as exc:  # report instead of failing the whole benchmark
        candidates = [(f"fp32, graph opt '{lvl}'", onnx_path, lvl) for lvl in ("disable", "basic", "extended", "all")]
        rows.append(f"| int8 dynamic | failed: {' '.join(str(exc).split())[:120]} | | | | |")
    for label, path, lvl in candidates:
        m = load_model(path, threads=1, optimization=lvl)
        p50, p99 = percentiles_ms(time_calls(m.predict, inputs, reps))
        dev = np.abs(m.predict_points(clips) - ref)
        if labelled is not None:
            mae = float(np.abs(m.predict_points(labelled[0]) - labelled[1]).mean())
            mae_base = float(np.abs(ref_lab - labelled[1]).mean())
            mae_txt = f"{mae:.3f} ({mae - mae_base:+.3f})"
        else:
            mae_txt = "n/a (untrained)"
        size_kb = path.stat().st_size / 1024
        rows.append(f"| {label} | {size_kb:.0f} | {p50:.3f} | {p99:.3f} | {dev.mean():.4f} / {dev.max():.4f} | {mae_txt} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=None, help="folder of training runs <runs>/<arch>/model.keras")
    ap.add_argument("--archs", nargs="*", default=None, help="architectures (default: all)")
    ap.add_argument("--reps", type=int, default=500, help="timed ONNX calls per model (default 500)")
    ap.add_argument("--keras-reps", type=int, default=60, help="timed Keras eager calls per model (default 60)")
    ap.add_argument("--predict-reps", type=int, default=20, help="timed Keras model.predict calls (default 20)")
    ap.add_argument("--timbral-clips", type=int, default=20, help="clips timed through timbral_models (default 20)")
    ap.add_argument("--variants", nargs="*", default=[], help="architectures to time variants of (opt levels, int8)")
    ap.add_argument("--test-clips", type=int, default=1000, help="test-split clips for variant MAE (default 1000)")
    ap.add_argument("--shipped", type=Path, nargs="*", default=[],
                    help="also time these exported ONNX models (e.g. models/default.onnx) with ONNX Runtime")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown section here")
    args = ap.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    from drumtimbre import __version__
    from encoder.audio import AudioError, load
    from encoder.models import ARCHITECTURES
    from export.exporter import export_model
    from export.parity import DEFAULT_CLIPS, kit_files, parity_clips
    from realtime.runtime import load_model

    archs = args.archs or list(ARCHITECTURES)
    clips, real = parity_clips(DEFAULT_CLIPS)
    inputs = [c[None] for c in clips]
    print(f"{len(clips)} clips ({real} from Debian kits)", file=sys.stderr)

    # timbral_models on prepared, unpadded clips of the same files
    from encoder.labeller import label_clip

    prepared = []
    for f in kit_files():
        try:
            prepared.append(load(f).samples)
        except (AudioError, OSError):
            continue
        if len(prepared) >= args.timbral_clips:
            break
    t0 = time.perf_counter()
    label_clip(prepared[0])
    timbral_warm = time.perf_counter() - t0
    timbral_cpu: list[float] = []
    timbral = time_calls(label_clip, prepared, len(prepared), warmup=0, cpu=timbral_cpu)
    t50, t99 = percentiles_ms(timbral)
    tc50 = percentiles_ms(timbral_cpu)[0]
    print(f"timbral_models p50 {t50:.1f} ms (first call {timbral_warm:.1f} s)", file=sys.stderr)

    rows, variant_rows = [], {}
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for arch in archs:
            model, origin, run_dir = load_or_build(arch, args.runs)
            result = export_model(model, tmp / f"{arch}.onnx", arch, "bench", clips=clips, real_clips=real)
            onnx_model = load_model(result.path, threads=1)
            onnx_cpu: list[float] = []
            o50, o99 = percentiles_ms(time_calls(onnx_model.predict, inputs, args.reps, warmup=20, cpu=onnx_cpu))
            oc50 = percentiles_ms(onnx_cpu)[0]
            e50, e99 = percentiles_ms(time_calls(lambda x: model(x[:, :, None], training=False), inputs,
                                                 args.keras_reps))
            p50, p99 = percentiles_ms(time_calls(lambda x: model.predict(x[:, :, None], verbose=0), inputs,
                                                 args.predict_reps, warmup=2))
            rows.append(f"| {arch} | {origin} | {model.count_params():,} | {o50:.3f} | {o99:.3f} | {e50:.2f} | "
                        f"{e99:.2f} | {p50:.1f} | {p99:.1f} | {e50 / o50:.0f}x | {p50 / o50:.0f}x | "
                        f"{t50 / o50:,.0f}x | {oc50:.3f} | {tc50 / oc50:,.0f}x | {result.parity.max_abs:.1e} |")
            print(rows[-1], file=sys.stderr)
            if arch in args.variants:
                labelled = test_split(run_dir, args.test_clips) if run_dir is not None else None
                variant_rows[arch] = (origin, labelled, variants(result.path, clips, args.reps, labelled, tmp))
                for r in variant_rows[arch][2]:
                    print(r, file=sys.stderr)

    shipped_line = []
    for path in args.shipped:
        shipped = load_model(path, threads=1)
        shipped_cpu: list[float] = []
        s50, s99 = percentiles_ms(time_calls(shipped.predict, inputs, args.reps, warmup=20, cpu=shipped_cpu))
        sc50 = percentiles_ms(shipped_cpu)[0]
        c = shipped.contract
        shipped_line += ["", f"Shipped model `{path}` ({c.architecture}, trained on: {c.training_data}): "
                             f"ONNX p50 **{s50:.3f} ms**, p99 {s99:.3f} ms; timbral_models / ONNX = "
                             f"**{t50 / s50:,.0f}x** wall-clock, **{tc50 / sc50:,.0f}x** CPU time (target <= 0.25 ms p50, >= 1000x)."]
        print(shipped_line[-1], file=sys.stderr)

    cmd = "python bench/latency.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load_avg = os.getloadavg()
    lines = [
        "## Export and inference latency (`bench/latency.py`)",
        "",
        f"Command: `{cmd}` (drumtimbre {__version__})",
        "",
        f"Machine: 2-core x86-64 VM, 24 GB, no GPU ({machine()}); load average at the end "
        f"{load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} "
        "(this benchmark keeps one core busy: about 1.0 means nothing else ran).",
        "",
        f"Per-hit latency, batch 1, one thread, on {len(clips)} real Debian kit one-shots ({real} from kits), "
        f"prepared and zero-padded to 16,000 samples. ONNX: `realtime.runtime.load_model(threads=1)` + `predict`, "
        f"{args.reps} calls after 20 warm-up calls; Keras eager `model(x, training=False)`, {args.keras_reps} calls; "
        f"Keras `model.predict`, {args.predict_reps} calls; TensorFlow with 1 intra-op and 1 inter-op thread; OMP/OpenBLAS/MKL threads 1. "
        f"timbral_models: `encoder.labeller.label_clip` on {len(prepared)} prepared (unpadded) clips of the same "
        f"kits, p50 **{t50:.1f} ms** wall, p99 {t99:.1f} ms; p50 **{tc50:.1f} ms** of process CPU time "
        f"(its first call, not counted, took {timbral_warm:.1f} s). Ratios are p50 / ONNX p50 (wall-clock), "
        f"and in the CPU-time column p50 process CPU time / ONNX p50 process CPU time, which other jobs on the "
        f"shared cores do not inflate. Parity: max |ONNX - Keras| over the {len(clips)} clips, normalised units.",
        "",
        "| architecture | weights | parameters | ONNX p50 ms | ONNX p99 ms | Keras eager p50 ms | p99 ms | "
        "Keras predict p50 ms | p99 ms | eager / ONNX | predict / ONNX | timbral_models / ONNX | "
        "ONNX CPU p50 ms | timbral_models / ONNX, CPU time | parity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        *shipped_line,
    ]
    for arch, (origin, labelled, vrows) in variant_rows.items():
        n_lab = 0 if labelled is None else len(labelled[0])
        lines += [
            "",
            f"### Variants of `{arch}` ({origin})",
            "",
            "Same clips, batch 1, one thread. Deviation: |variant - fp32 'all'| in AudioCommons points over the "
            f"{len(clips)} kit clips (mean / max). MAE: against the labels of {n_lab} clips of the run's test split, "
            "points (change vs fp32 'all').",
            "",
            "| variant | size KiB | p50 ms | p99 ms | deviation mean / max | MAE (change) |",
            "|---|---|---|---|---|---|",
            *vrows,
        ]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
