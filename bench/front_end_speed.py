"""ONNX Runtime time per hit of a log-mel model with each form of its fixed front end, and with the raw graph.

    .venv/bin/python bench/front_end_speed.py [--arch logmel_reg] [--reps 1000] [--weights models/default.keras]
        [--ranks 24] [--clips 925]

The forms of `encoder.models._logmel_cnn` (strided Conv1D, framed, split,
factored) are built with the same trained-layer weights (from `--weights`, a
.keras file of that architecture, else copied from a seeded build), exported
in memory with `export.keras_to_onnx.to_onnx` (no front-end rebuild; graph
clean-up on, as `drumtimbre export` does), and the framed form once more
without the clean-up (tf2onnx's graph as it comes: what the export wrote
before the clean-up existed); the factored form at its default rank
(`encoder.models.LOW_RANK`) and at each further `--ranks` value.  They are timed alternately (batch 1, one
thread, graph optimisation 'all') on a decaying noise burst; p50 and p10 wall
time in ms.  Each row also gives its largest output difference from the
strided Conv1D form (normalised units) over `--clips` real kit clips
(`export.parity.parity_clips`), and for the factored rows how closely the
basis rebuilds the Gabor filters (largest error / largest weight).
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
    p.add_argument("--ranks", type=int, nargs="+", default=[], help="more ranks of the factored form to time "
                   "(its default rank is always timed)")
    p.add_argument("--clips", type=int, default=64, help="real kit clips to compare the forms' outputs on")
    args = p.parse_args(argv)

    import keras

    from encoder.models import LOW_RANK, _logmel_cnn, copy_trained_weights
    from export.keras_to_onnx import load_keras_model
    from export.parity import parity_clips

    spec = SPECS[args.arch]
    keras.utils.set_random_seed(0)
    forms = {"strided Conv1D": _logmel_cnn(args.arch, front_end="conv", **spec),
             "framed": _logmel_cnn(args.arch, front_end="framed", **spec),
             "split": _logmel_cnn(args.arch, front_end="split", **spec)}
    factored = []  # row labels of the factored forms
    for r in [LOW_RANK] + sorted(set(args.ranks) - {LOW_RANK}):
        factored.append(f"factored, rank {r}" + (" (default)" if r == LOW_RANK else ""))
        forms[factored[-1]] = _logmel_cnn(args.arch, front_end="factored", low_rank=r, **spec)
    source = load_keras_model(args.weights) if args.weights else forms["strided Conv1D"]
    for model in forms.values():
        if model is not source and not copy_trained_weights(source, model):
            p.error(f"{args.weights}: its trained layers do not fit {args.arch}")
    sessions = {"framed, raw tf2onnx graph": session(forms["framed"], simplify_graph=False)}
    sessions.update({label: session(model) for label, model in forms.items()})
    clips, real = parity_clips(args.clips)
    clips = clips[:, :, None]

    def outputs(s):
        return np.concatenate([s.run(None, {s.get_inputs()[0].name: clips[i:i + 64]})[0]
                               for i in range(0, len(clips), 64)])

    ref_out = outputs(sessions["strided Conv1D"])
    diffs = {k: float(np.abs(outputs(s) - ref_out).max()) for k, s in sessions.items()}
    slices = forms["split"].get_layer("low_filters").get_weights()[0]  # (taps, hop, filters): the Gabor bank
    rebuild = {}  # the factored models' basis times taps against those slices, / the largest weight
    for label in factored:
        basis = forms[label].get_layer("low_basis").get_weights()[0]
        taps = forms[label].get_layer("low_filters").get_weights()[0]
        rebuild[label] = float(np.abs(np.einsum("mr,jrk->jmk", basis, taps) - slices).max() / np.abs(slices).max())
    t = np.arange(16000) / 16000
    x = (0.5 * np.random.default_rng(0).standard_normal(16000) * np.exp(-t / 0.08)).astype(np.float32)[None, :, None]
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
    print(f"{args.arch} ({weights}): {args.reps} alternating calls each, batch 1, one thread; output differences "
          f"from the strided Conv1D form over {len(clips)} clips ({real} from drum kits), normalised units")
    print("| front end and graph | p50 ms | p10 ms | max output difference | Gabor filters rebuilt to |\n"
          "|---|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {1000 * np.median(v):.3f} | {1000 * np.percentile(v, 10):.3f} | {diffs[k]:.1e} | "
              + (f"{rebuild[k]:.1e} |" if k in rebuild else "- |"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
