"""ONNX Runtime time per hit of the log-mel models with the framed front end vs the strided-convolution one.

    .venv/bin/python bench/front_end_speed.py [--arch logmel_stats] [--reps 1000]

Both forms are built with the same trained-layer weights (copied from a seeded
build), exported in memory with `export.keras_to_onnx.to_onnx`, checked to
agree, and timed alternately (batch 1, one thread, graph optimisation 'all')
on a decaying noise burst; p50 and p10 wall time in ms.
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
}


def session(model):
    import onnxruntime as ort

    from export.keras_to_onnx import to_onnx

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(to_onnx(model).SerializeToString(), so, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(SPECS), default="logmel_stats")
    p.add_argument("--reps", type=int, default=1000)
    args = p.parse_args(argv)

    import keras

    from encoder.models import _logmel_cnn

    spec = SPECS[args.arch]
    keras.utils.set_random_seed(0)
    conv = _logmel_cnn(args.arch, framed=False, **spec)
    framed = _logmel_cnn(args.arch, framed=True, **spec)
    for a, b in zip([x for x in conv.layers if x.trainable_weights], [x for x in framed.layers if x.trainable_weights]):
        b.set_weights(a.get_weights())
    sessions = {"strided Conv1D front end": session(conv), "framed front end (default)": session(framed)}
    t = np.arange(16000) / 16000
    x = (0.5 * np.random.default_rng(0).standard_normal(16000) * np.exp(-t / 0.08)).astype(np.float32)[None, :, None]
    outs = {k: s.run(None, {s.get_inputs()[0].name: x})[0] for k, s in sessions.items()}
    diff = float(np.abs(np.subtract(*outs.values())).max())
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for k, s in sessions.items():
        for _ in range(50):
            s.run(None, {s.get_inputs()[0].name: x})
    for _ in range(args.reps):  # alternate, so load changes hit both alike
        for k, s in sessions.items():
            name = s.get_inputs()[0].name
            t0 = time.perf_counter()
            s.run(None, {name: x})
            times[k].append(time.perf_counter() - t0)
    print(f"{args.arch}: max |difference| of the two forms {diff:.2e} (normalised units); "
          f"{args.reps} alternating calls each, batch 1, one thread")
    print("| front end | p50 ms | p10 ms |\n|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {1000 * np.median(v):.3f} | {1000 * np.percentile(v, 10):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
