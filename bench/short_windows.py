"""Early estimates from little audio: MAE on held-out kits for windows shorter than the network trained on.

The live engine's early estimate with `--early-ms 5` sees about 8 ms of audio
(3 ms of pre-roll and 5 ms after the onset); the network learnt from windows of
25 ms and more.  For every grouped blend run given (`drumtimbre blend`, with or
without its forest for short windows) and, optionally, the network run it was
made from, this judges the run's *test* split cut to each window (zeros after),
on the real kit clips of one source (--real, default debian.csv), pooled over
the runs, beside the median of each run's training labels.  Nothing is tuned here.

    .venv/bin/python bench/short_windows.py --runs data/runs/extra2_s0_blends data/runs/extra2_s1_blends \\
        data/runs/extra2_s2_blends --networks data/runs/extra2_s0 data/runs/extra2_s1 data/runs/extra2_s2 \\
        --data $D --md bench/results/short_windows.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline import run_split  # noqa: E402
from encoder import dataset  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.evaluate import keras_predictor, truncate  # noqa: E402
from encoder.manifest import load_manifests  # noqa: E402
from report import emit  # noqa: E402  (bench/report.py)

WINDOWS = (5, 8, 13, 18, 25, 50)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True, help="grouped blend run folders")
    ap.add_argument("--networks", nargs="*", type=Path, default=[], help="their network run folders, same order")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--real", default="debian.csv", help="file name of the source holding the real kits")
    ap.add_argument("--windows", nargs="+", type=float, default=WINDOWS, help="window lengths, ms")
    ap.add_argument("--md", type=Path)
    args = ap.parse_args(argv)
    if args.networks and len(args.networks) != len(args.runs):
        ap.error("--networks: one per --runs folder, in the same order")
    manifest = load_manifests(args.data)
    models = {"blend": args.runs, **({"network alone": args.networks} if args.networks else {})}
    errs: dict[str, dict[float, list]] = {k: {ms: [] for ms in args.windows} for k in [*models, "median"]}
    clips = 0
    for i, run in enumerate(args.runs):
        train, test = run_split(run, manifest)
        real = np.array([Path(r.source).name == args.real for r in test.records])
        clips += int(real.sum())
        x = dataset.load_audio(test, cache_dir=run.parent / ".cache", progress=False)
        y = normalise(test.labels())
        median = np.median(normalise(train.labels()), axis=0)
        predictors = {k: keras_predictor(folders[i] / "model.keras") for k, folders in models.items()}
        for ms in args.windows:
            xi = truncate(x, ms)
            for k, predict in predictors.items():
                errs[k][ms].append(np.abs(predict(xi) - y)[real])
            errs["median"][ms].append(np.abs(median - y)[real])
    lines = [f"Runs: {', '.join(map(str, args.runs))}" + (f"; networks: {', '.join(map(str, args.networks))}"
                                                          if args.networks else "")
             + f". Test split, real kits of {args.real} ({clips} clips), pooled; MAE in normalised units (0-1) of "
             "each clip cut to the window (zeros after).", "",
             "| model | " + " | ".join(f"{ms:g} ms" for ms in args.windows) + " |",
             "|---|" + "---|" * len(args.windows)]
    for k, per in errs.items():
        label = "median of the training labels" if k == "median" else k
        lines.append(f"| {label} | " + " | ".join(f"{np.concatenate(per[ms]).mean():.4f}" for ms in args.windows)
                     + " |")
    emit(lines, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
