"""`drumtimbre build-data [--out data] [--synth N] [--workers W] [--no-extra]`: rebuild the training data."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("data"),
                   help="data folder: audio goes to OUT/audio/, label CSVs to OUT/labels/ (default: data)")
    p.add_argument("--synth", type=int, default=2400, metavar="N",
                   help="synthesised clips to render and label (default 2400; more later only labels the new ones)")
    p.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="labelling processes (default: CPU count, at most 4)")
    p.add_argument("--augment", type=int, default=None, metavar="K",
                   help="label-true augmented variants per Debian kit file (default 4; 0: none)")
    p.add_argument("--no-debian", action="store_true", help="skip the Debian drum kits")
    p.add_argument("--no-extra", action="store_true",
                   help="skip the extra kits (SoundFont drum kits, freepats drums, Sonic Pi's percussion samples)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from encoder.recipe import AUGMENT_VARIANTS, build, debian_kit_files

    augment = AUGMENT_VARIANTS if args.augment is None else args.augment

    if args.synth < 0 or args.workers < 1 or augment < 0:
        print(f"drumtimbre build-data: --synth and --augment must be >= 0 and --workers >= 1 "
              f"(got {args.synth}, {augment}, {args.workers})", file=sys.stderr)
        return 2
    if not args.no_debian and not debian_kit_files():
        print("drumtimbre build-data: no Debian kits found; install hydrogen-drumkits hydrogen-data "
              "lmms-common, or pass --no-debian", file=sys.stderr)
        return 2
    s = build(args.out, args.synth, args.workers, debian=not args.no_debian, progress=not args.no_progress,
              augment=augment, extra=not args.no_extra)
    parts = [f"{s.synth_files} synth clips -> {s.synth_csv}"]
    parts += [f"{n} {what} -> {csv}" for n, what, csv in ((s.debian_files, "Debian kit files", s.debian_csv),
                                                          (s.augmented_files, "augmented variants", s.augmented_csv))
              if csv is not None]  # (none with --no-debian)
    print("; ".join(parts))
    if args.no_extra:
        return 0
    if s.extra_files:
        print(f"{s.extra_files} extra kit files -> {s.extra_csv}; "
              f"{s.extra_augmented_files} augmented variants -> {s.extra_augmented_csv}")
    else:
        print("no extra kits found (install fluid-soundfont-gm timgm6mb-soundfont avldrums.lv2-soundfont freepats sonic-pi-samples for them); "
              "the rest of the recipe is built")
    return 0
