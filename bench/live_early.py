"""Early estimates through the live engine: held-out one-shots played alone, early estimate against their labels.

Each real kit clip of a grouped run's *test* split (--real, default debian.csv)
is read from its file, brought to 48 kHz (soxr), peak-normalised to 0.8 and
played alone (0.3 s of silence before, 1.2 s after) through
`realtime.engine.Engine` in 128-frame blocks, for each --early-ms, with each
ONNX model given (export the run's blend and, to compare, its network).  The
early estimate (pre-roll, input-rate cut, resampling: what `listen` sends
first) is scored against the clip's label, MAE in normalised units; the final
estimate too.  Nothing is tuned here.

    .venv/bin/drumtimbre export data/runs/extra2_s0_blend -o /tmp/s0_blend.onnx
    .venv/bin/drumtimbre export data/runs/extra2_s0 -o /tmp/s0_network.onnx
    .venv/bin/python bench/live_early.py --run data/runs/extra2_s0_blend --models /tmp/s0_blend.onnx \\
        /tmp/s0_network.onnx --data $D --md bench/results/live_early.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import run_split  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.manifest import load_manifests  # noqa: E402
from report import emit  # noqa: E402  (bench/report.py)

RATE, BLOCK = 48000, 128


def stream_of(path: str) -> np.ndarray:
    """The one-shot at 48 kHz, peak 0.8, with 0.3 s of silence before and 1.2 s after."""
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        x = soxr.resample(x, sr, RATE)
    x = x[:RATE] / max(1e-9, float(np.abs(x).max())) * 0.8
    return np.concatenate([np.zeros(int(0.3 * RATE)), x, np.zeros(int(1.2 * RATE))]).astype(np.float32)


def estimates(model, stream: np.ndarray, early_ms: float) -> dict:
    """{'early': values, 'final': values} (normalised) of the first hit the engine reports."""
    from realtime.engine import Engine, EngineConfig

    got: dict = {}
    engine = Engine(model, RATE, EngineConfig(early_ms=early_ms), callbacks=[lambda e: got.setdefault(e.kind, e.values)])
    for i in range(0, stream.size, BLOCK):
        engine.process_block(stream[i:i + BLOCK], 0.0, 0.0)
    engine.finish()
    return got


def main(argv: list[str] | None = None) -> int:
    from realtime.runtime import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="grouped run folder whose test split is played")
    ap.add_argument("--models", nargs="+", required=True, help="ONNX files (not trained on that test split)")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--real", default="debian.csv")
    ap.add_argument("--early-ms", nargs="+", type=float, default=[5.0, 10.0, 25.0])
    ap.add_argument("--md", type=Path)
    args = ap.parse_args(argv)
    _, test = run_split(args.run, load_manifests(args.data))
    records = [r for r in test.records if Path(r.source).name == args.real]
    truth = normalise(np.array([r.labels for r in records], dtype=np.float64))
    streams = [stream_of(r.path) for r in records]
    lines = [f"Test split of {args.run} ({len(records)} clips of {args.real}), each played alone through the live "
             f"engine at {RATE} Hz in {BLOCK}-frame blocks; MAE (normalised) of the early and final estimates "
             "against the clip's label (missing: hits with no estimate of that kind).", "",
             "| model | --early-ms | early MAE | final MAE | missing early / final |", "|---|---|---|---|---|"]
    for path in args.models:
        model = load_model(path, threads=1)
        for ms in args.early_ms:
            got = [estimates(model, s, ms) for s in streams]
            cells = []
            for kind in ("early", "final"):
                have = [i for i, g in enumerate(got) if kind in g]
                err = np.abs(np.stack([got[i][kind] for i in have]) - truth[have]) if have else np.zeros((1, 7))
                cells.append((float(err.mean()), len(records) - len(have)))
            lines.append(f"| {path} | {ms:g} | {cells[0][0]:.4f} | {cells[1][0]:.4f} | {cells[0][1]} / {cells[1][1]} |")
            print(lines[-1], flush=True)
    emit(lines, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
