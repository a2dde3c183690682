"""ONNX Runtime time per hit of a log-mel model with each form of its fixed front end, and with the raw graph.

    .venv/bin/python bench/front_end_speed.py [--arch logmel_stats] [--reps 1000] [--weights models/default.keras]

The forms of `encoder.models._logmel_cnn` (strided Conv1D, framed, split,
factored) are built with the same trained-layer weights (from `--weights`, a
.keras file of that architecture, else copied from a seeded build), exported
in memory with `export.keras_to_onnx.to_onnx` (no front-end rebuild; graph
clean-up on, as `drumtimbre export` does), and the framed form once more
without the clean-up (tf2onnx's graph as it comes: what the export wrote
before the clean-up existed).  All are checked to agree and timed alternately
(batch 1, one thread, graph optimisation 'all') on a decaying noise burst;
p50 and p10 wall time in ms.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SPECS = {  # the arguments of encoder.models' builders
    "logmel": dict(n_mels=48, channels=(64, 64, 64, 64), dense=64),
    "logmel_wide": dict(n_mels=64, channels=(96, 96, 96, 96), dense=128),
    "logmel_stats": dict(n_mels=64, channels=(96, 96, 96, 96), dense=128, band_stats=True),
    "logmel_reg": dict(n_mels=64, channels=(96, 96, 96, 96), dense=128, band_stats=True, dropout=0.2),
}


def session(model, simplify_graph: bool = True):
    import onnxruntime as ort

    from export.keras_to_onnx import to_onnx

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    proto = to_onnx(model, rebuild_front_end=False, simplify_graph=simplify_graph)
    return ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(SPECS), default="logmel_reg")
    p.add_argument("--reps", type=int, default=1000)
    p.add_argument("--weights", type=Path, help="a trained .keras file of --arch to take the weights from")
    args = p.parse_args(argv)

    import keras

    from encoder.models import _logmel_cnn, copy_trained_weights
    from export.keras_to_onnx import load_keras_model

    spec = SPECS[args.arch]
    keras.utils.set_random_seed(0)
    forms = {form: _logmel_cnn(args.arch, front_end=form, **spec) for form in ("conv", "framed", "split", "factored")}
    source = load_keras_model(args.weights) if args.weights else forms["conv"]
    for model in forms.values():
        if model is not source and not copy_trained_weights(source, model):
            p.error(f"{args.weights}: its trained layers do not fit {args.arch}")
    sessions = {"framed, raw tf2onnx graph": session(forms["framed"], simplify_graph=False),
                "strided Conv1D": session(forms["conv"]),
                "framed": session(forms["framed"]),
                "split": session(forms["split"]),
                "factored (default)": session(forms["factored"])}
    t = np.arange(16000) / 16000
    x = (0.5 * np.random.default_rng(0).standard_normal(16000) * np.exp(-t / 0.08)).astype(np.float32)[None, :, None]
    outs = [s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions.values()]
    diff = max(float(np.abs(o - outs[0]).max()) for o in outs)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for k, s in sessions.items():
        for _ in range(50):
            s.run(None, {s.get_inputs()[0].name: x})
    for _ in range(args.reps):  # alternate, so load changes hit all alike
        for k, s in sessions.items():
            name = s.get_inputs()[0].name
            t0 = time.perf_counter()
            s.run(None, {name: x})
            times[k].append(time.perf_counter() - t0)
    weights = args.weights or "seeded random init"
    print(f"{args.arch} ({weights}): max |difference| between the graphs {diff:.2e} (normalised units); "
          f"{args.reps} alternating calls each, batch 1, one thread")
    print("| front end and graph | p50 ms | p10 ms |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {1000 * np.median(v):.3f} | {1000 * np.percentile(v, 10):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
