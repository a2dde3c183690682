"""Labeller agreement with the independent Debian-kit labels, and labelling speed.

    python bench/label_agreement.py --workers 1 2 [--limit N] [--out-dir DIR]

For each worker count, labels the reference's files with `drumtimbre label`'s
engine (`label_to_csv`), times it (files/s, warm-up included), and compares
the labels with ../shared/reference/debian_kits_labels.csv: the share of files
within 0.5 points on every descriptor, per-descriptor mean/max absolute
difference, and the worst files.  `--labels CSV` compares an existing CSV
instead of labelling.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from encoder.descriptors import DESCRIPTORS  # noqa: E402
from encoder.label_run import label_to_csv  # noqa: E402

REFERENCE = REPO.parent / "shared" / "reference" / "debian_kits_labels.csv"
USR_SHARE = Path("/usr/share")


def reference_labels() -> dict[str, np.ndarray]:
    with open(REFERENCE, newline="") as f:
        return {str(USR_SHARE / r["usr_share_path"]): np.array([float(r[n]) for n in DESCRIPTORS])
                for r in csv.DictReader(f)}


def compare(labels_csv: Path, ref: dict[str, np.ndarray]) -> str:
    with open(labels_csv, newline="") as f:
        ours = {r["path"]: r for r in csv.DictReader(f)}
    diffs, names, failed = [], [], []
    for path, want in ref.items():
        row = ours.get(path)
        if row is None:
            continue
        if row["error"]:
            failed.append(path)
            continue
        diffs.append(np.abs(np.array([float(row[n]) for n in DESCRIPTORS]) - want))
        names.append(path)
    d = np.array(diffs)
    worst = d.max(axis=1)
    within = float(np.mean(worst <= 0.5)) if len(d) else 0.0
    lines = [f"files compared: {len(d)} of {len(ref)} reference files; failed to label: {len(failed)}",
             f"within 0.5 points on all 7 descriptors: {100 * within:.2f} % ({int(np.sum(worst <= 0.5))}/{len(d)})",
             "", "| descriptor | mean abs diff | p99 abs diff | max abs diff |", "|---|---|---|---|"]
    for i, n in enumerate(DESCRIPTORS):
        lines.append(f"| {n} | {d[:, i].mean():.4f} | {np.percentile(d[:, i], 99):.4f} | {d[:, i].max():.4f} |")
    lines += ["", "worst files (max abs diff, points):"]
    for j in np.argsort(-worst)[:5]:
        lines.append(f"- {names[j]}: {worst[j]:.3f} ({DESCRIPTORS[int(np.argmax(d[j]))]})")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--limit", type=int, default=0, help="label a seeded random sample of N files (0 = all)")
    ap.add_argument("--labels", type=Path, help="compare this existing label CSV instead of labelling")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/drumtimbre-label-bench"))
    args = ap.parse_args()
    ref = reference_labels()
    if args.labels:
        print(compare(args.labels, ref))
        return 0
    paths = sorted(ref)
    if args.limit:
        paths = sorted(random.Random(0).sample(paths, args.limit))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for w in args.workers:
        out = args.out_dir / f"labels_w{w}.csv"
        s = label_to_csv([Path(p) for p in paths], out, workers=w, resume=False, progress=False)
        print(f"## workers={w}: {s.labelled} labelled, {len(s.failed)} failed in {s.seconds:.1f} s "
              f"-> {s.labelled / s.seconds:.2f} files/s")
        print(compare(out, ref))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
