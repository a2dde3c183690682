"""`drumtimbre train --data MANIFEST... --arch NAME --out RUN_DIR [...]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_ARCH = "logmel"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encoder.models import ARCHITECTURES, STUDY_PARAMETERS  # no TensorFlow import: Keras loads lazily

    p.add_argument("--data", nargs="+", required=True, metavar="MANIFEST",
                   help="label CSVs (drumtimbre label / build-data) and/or Freesound One-Shot dataset folders")
    p.add_argument("--arch", default=DEFAULT_ARCH,
                   help=f"architecture (default {DEFAULT_ARCH}): the study's big, seven_filters, mid, small; "
                        "ours " + ", ".join(a for a in ARCHITECTURES if a not in STUDY_PARAMETERS))
    p.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder to write")
    p.add_argument("--epochs", type=int, default=60, help="maximum epochs (early stopping on validation)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, weights, shuffling and truncation")
    p.add_argument("--grouped", action="store_true", help="keep each kit / synth group wholly in one split")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--truncate-fraction", type=float, default=0.5,
                   help="share of training clips cut to a random 25-1000 ms window (default 0.5)")
    p.add_argument("--all-data", action="store_true",
                   help="refit on every clip (no validation/test) for exactly --epochs epochs; take the epoch "
                        "count from a --grouped run of the same recipe, which is what judges it")
    p.add_argument("--schedule-from", type=Path, default=None, metavar="RUN_DIR",
                   help="with --all-data: replay this grouped run's learning rate per epoch (its history.csv) "
                        "instead of reducing it on the training loss")
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience, epochs")
    p.add_argument("--oversample", nargs="*", default=[], metavar="SOURCE=N",
                   help="repeat a source's training clips N times per epoch, e.g. debian.csv=3 (real kits count more)")
    p.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                   help="keep an exponential moving average of the weights with this momentum, e.g. 0.999, and "
                        "validate, stop early and save with it (default 0: off)")
    p.add_argument("--overwrite", action="store_true",
                   help="train into a RUN_DIR that already holds a run (its files are replaced; anything else in "
                        "it, e.g. an old evaluation, stays)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from encoder.models import ARCHITECTURES

    if args.arch not in ARCHITECTURES:
        print(f"drumtimbre train: unknown architecture {args.arch!r}; choose from {', '.join(ARCHITECTURES)}",
              file=sys.stderr)
        return 2
    from encoder.train import TrainConfig, train

    try:
        oversample = {k: int(v) for k, v in (item.split("=", 1) for item in args.oversample)}
    except ValueError:
        print(f"drumtimbre train: --oversample takes SOURCE=N items, got {' '.join(args.oversample)}", file=sys.stderr)
        return 2

    from encoder.out_path import run_folder_problem

    problem = run_folder_problem(args.out, args.overwrite)
    if problem:
        print(f"drumtimbre train: {problem}", file=sys.stderr)
        return 2
    existed = args.out.exists()
    cfg = TrainConfig(data=args.data, arch=args.arch, out=args.out, epochs=args.epochs, seed=args.seed,
                      grouped=args.grouped, batch_size=args.batch_size, lr=args.lr,
                      truncate_fraction=args.truncate_fraction, patience=args.patience,
                      oversample=oversample, progress=not args.no_progress,
                      all_data=args.all_data, schedule_from=args.schedule_from, ema=args.ema)
    try:
        info = train(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"drumtimbre train: {exc}", file=sys.stderr)
        if not existed and args.out.is_dir() and not any(args.out.iterdir()):
            args.out.rmdir()  # a run refused before it wrote anything leaves no empty folder behind
        return 2
    judged = ("refit on all data, no validation" if info["best_val_mae"] is None
              else f"best validation MAE {info['best_val_mae']:.4f}")
    print(f"{info['architecture']}: {judged} after {info['epochs_run']} epochs "
          f"({info['seconds_per_epoch']} s/epoch) -> {args.out}")
    return 0
