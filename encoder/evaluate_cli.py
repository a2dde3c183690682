"""`drumtimbre evaluate --model PATH --data MANIFEST... [--out DIR] [--split test --run RUN_DIR]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=Path, help="model file: .keras or .onnx")
    p.add_argument("--data", nargs="+", required=True, metavar="MANIFEST",
                   help="label CSVs and/or Freesound One-Shot dataset folders")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for report.json and scatter.png (default: RUN_DIR/evaluation-<model name> with --run, "
                        "else ./evaluation-<model name>)")
    p.add_argument("--run", type=Path, default=None,
                   help="run folder whose split.csv selects clips and whose training labels give the median baseline")
    p.add_argument("--split", choices=("train", "validation", "test"), default=None,
                   help="evaluate only this split of --run (default with --run: test)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from encoder import dataset, splits
    from encoder.evaluate import evaluate, load_predictor, write_report
    from encoder.descriptors import normalise

    if args.split and not args.run:
        print("drumtimbre evaluate: --split needs --run RUN_DIR (the split is read from RUN_DIR/split.csv)",
              file=sys.stderr)
        return 2
    from encoder.out_path import folder_problem

    out = args.out or (args.run or Path(".")) / f"evaluation-{args.model.stem}"
    problem = folder_problem(out)
    if problem:  # (before the work)
        print(f"drumtimbre evaluate: --out {problem}", file=sys.stderr)
        return 2
    try:
        manifest = readable = dataset.load_readable(args.data, "evaluate")
        baseline_source = "median of the evaluated clips' labels"
        baseline = manifest.labels()
        split_name = "all"
        if args.run:
            split_csv = args.run / "split.csv"
            if not split_csv.exists():
                raise FileNotFoundError(f"{split_csv}: run folder has no split.csv")
            split_name = args.split or "test"
            parts = splits.of_run(manifest, args.run, "evaluate")
            train = parts["train"]
            manifest = parts[split_name]
            if len(train):
                baseline, baseline_source = train.labels(), f"median of the run's {len(train)} training labels"
        if not len(manifest):
            raise ValueError(f"no labelled clips to evaluate (split {split_name})")
        predict = load_predictor(args.model)
        manifest, x = dataset.load_usable_audio(manifest, "evaluate", progress=not args.no_progress)
        if not len(manifest):
            raise ValueError(f"no clip to evaluate could be decoded (split {split_name})")
        if not args.run:  # the clips evaluated, less any whose audio failed to decode
            baseline = manifest.labels()
    except (ValueError, FileNotFoundError) as exc:
        print(f"drumtimbre evaluate: {exc}", file=sys.stderr)
        return 2
    report, pred = evaluate(predict, manifest, x, baseline, baseline_source)
    report.update({"model": str(args.model), "data": [str(d) for d in args.data], "split": split_name,
                   "run": str(args.run) if args.run else None,
                   "left_out": dataset.left_out_of(readable, manifest)})
    write_report(report, pred, normalise(manifest.labels()), out, f"{args.model.name} on {split_name}")
    print(f"{report['clips']} clips ({split_name}): MAE {report['mae']:.4f} normalised "
          f"({report['mae_points']:.2f} points); median baseline {report['median_baseline']['mae']:.4f}")
    for ms, r in report["by_window_ms"].items():
        print(f"  {ms:>5} ms window: MAE {r['mae']:.4f}")
    for s, r in report["by_source"].items():
        print(f"  {s}: {r['clips']} clips, MAE {r['mae']:.4f} (median baseline {r['median_baseline_mae']:.4f})")
    print(f"-> {out}/report.json, {out}/scatter.png")
    return 0
