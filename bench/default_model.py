"""The shipped model on held-out kits: accuracy by source and window, and per-hit inference time.

    .venv/bin/python bench/default_model.py --model models/default.onnx --run data/runs/default \
        --data data/labels/synth.csv data/labels/debian.csv --baseline data/runs/all/baseline/report.json

Accuracy: `encoder.evaluate` on the run's test split (whole Debian kits and
synth groups never seen in training).  Time: ONNX Runtime via
`realtime.runtime.load_model(threads=1)`, batch 1, 300 calls after 20
warm-up calls on held-out Debian clips; wall-clock p50/p99 and process CPU p50.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder import dataset, splits  # noqa: E402
from encoder.evaluate import evaluate, onnx_predictor  # noqa: E402
from encoder.manifest import load_manifests  # noqa: E402


def time_per_hit(model_path: Path, x: np.ndarray, calls: int = 300) -> dict:
    """Batch-1 ONNX Runtime latency on rows of `x`, one thread -> ms p50/p99 and CPU p50."""
    from realtime.runtime import load_model

    m = load_model(model_path, threads=1)
    for i in range(20):
        m.predict(x[i % len(x)][None])
    wall, cpu = [], []
    for i in range(calls):
        w0, c0 = time.perf_counter(), time.process_time()
        m.predict(x[i % len(x)][None])
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"p50_ms": 1000 * float(np.median(wall)), "p99_ms": 1000 * float(np.percentile(wall, 99)),
            "cpu_p50_ms": 1000 * float(np.median(cpu)), "calls": calls}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("models/default.onnx"))
    p.add_argument("--run", type=Path, required=True, help="run folder with the split the model was trained on")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--baseline", type=Path, default=None, help="bench/baseline.py report.json on the same split")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    manifest = load_manifests(args.data)
    saved = splits.load(args.run / "split.csv")
    train = splits.in_split(manifest, saved, "train")
    test = splits.in_split(manifest, saved, "test")
    x = dataset.load_audio(test, progress=False)
    report, _ = evaluate(onnx_predictor(args.model), test, x, train.labels(),
                         f"median of the run's {len(train)} training labels")
    deb = np.array(["debian" in r.source for r in test.records])
    report["timing"] = time_per_hit(args.model, x[deb] if deb.any() else x)
    report["model"] = str(args.model)
    if args.baseline:
        report["gradient_boosting"] = json.loads(args.baseline.read_text())
    out = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
