"""`drumtimbre label PATH... -o labels.csv [--workers N] [--resume]`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, type=Path, help="CSV to write (AudioCommons points 0-100)")
    p.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="worker processes (default: CPU count, at most 4)")
    p.add_argument("--resume", action="store_true",
                   help="keep what the CSV already holds; skip files whose content is already labelled")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from encoder.audio import find_audio
    from encoder.label_run import label_to_csv

    if args.workers < 1:
        print(f"drumtimbre label: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    try:
        paths = find_audio(args.paths)
    except FileNotFoundError as exc:
        print(f"drumtimbre label: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print("drumtimbre label: no audio files found", file=sys.stderr)
        return 2
    from encoder.out_path import check_writable
    try:
        # before the work (a folder, no permission, one of the audio files), not after the first file
        check_writable(args.output, tuple(("audio file to label", path) for path in paths))
    except OSError as exc:
        print(f"drumtimbre label: {exc}", file=sys.stderr)
        return 2
    summary = label_to_csv(paths, args.output, workers=args.workers, resume=args.resume,
                           progress=not args.no_progress)
    rate = summary.labelled / summary.seconds if summary.seconds else 0.0
    print(f"{summary.labelled} labelled, {summary.reused} already labelled, {len(summary.failed)} failed "
          f"of {summary.total} files in {summary.seconds:.1f} s ({rate:.2f} files/s) -> {summary.out}")
    if summary.failed:
        print("failed:", file=sys.stderr)
        for path, reason in summary.failed:
            print(f"  {reason}", file=sys.stderr)
    # a run that labels some files succeeds (the failures are in the CSV); one that labels none does not
    return 1 if summary.failed and not (summary.labelled or summary.reused) else 0
