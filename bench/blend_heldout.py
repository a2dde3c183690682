"""How much a blend of the network and the gradient-boosting baseline would gain on held-out kits.

For every grouped run folder given (one per split seed, same recipe), the
run's network (`model.keras`) and the baseline of `bench/baseline.py`
(refitted on that run's training split: bench/heldout_kits.py's `predictions`) predict
the run's test split; the blend (1 - w) x network + w x baseline is scored
for several weights w, at several window lengths, on the held-out real kits
(clips of --real, default `debian.csv`), on the extra kits (`extra.csv`) and
on all test clips; pooled over the runs and per run.  MAE in normalised units.

A measurement, not a model: no blend is shipped, and the weights are scored
on the test splits themselves, so the best row is optimistic (a shipped blend
would choose w on validation clips).

    .venv/bin/python bench/blend_heldout.py --runs data/runs/extra2_s0 data/runs/extra2_s1 data/runs/extra2_s2 \
        --data $D --md bench/results/blend_heldout.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder.manifest import load_manifests  # noqa: E402
from heldout_kits import predictions  # noqa: E402
from report import emit  # noqa: E402

WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)
"""Share of the baseline in the blend (0: the network alone, 1: the baseline alone)."""
WINDOWS = (25, 100, 1000)
"""Window lengths after the onset, ms."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--real", default="debian.csv", help="source file of the held-out real kits")
    ap.add_argument("--md", type=Path, help="write the markdown table here")
    args = ap.parse_args(argv)
    t0 = time.time()
    manifest = load_manifests(args.data)
    preds = []
    for run in args.runs:
        p = predictions(run, manifest, WINDOWS)
        p["source"] = np.array([Path(r.source).name for r in p["test"].records])
        preds.append(p)
        print(f"{run}: done ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    sets = (("held-out real kits", lambda p: p["source"] == args.real),
            ("held-out extra kits", lambda p: p["source"] == "extra.csv"),
            ("all test clips", lambda p: np.ones(p["source"].size, dtype=bool)))
    lines = [f"Runs: {', '.join(str(r) for r in args.runs)}. MAE (normalised) of (1 - w) x network + w x baseline; "
             "pooled over the runs' clips (per run in brackets).", "",
             "| clips | window | " + " | ".join(f"w = {w}" for w in WEIGHTS) + " |",
             "|---|---|" + "---|" * len(WEIGHTS)]
    for name, pick in sets:
        for ms in WINDOWS:
            cells = []
            for w in WEIGHTS:
                errs = [np.abs((1 - w) * p[ms][0] + w * p[ms][1] - p["true"])[pick(p)] for p in preds]
                per = "/".join(f"{e.mean():.4f}" for e in errs)
                cells.append(f"{np.concatenate(errs).mean():.4f} ({per})")
            lines.append(f"| {name} | {ms} ms | " + " | ".join(cells) + " |")
    emit(lines, args.md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
