"""The manifest: labelled clips, whatever their source (label CSV or Freesound).

Training, evaluation and splitting take manifests; `drumtimbre label` CSVs and
the Freesound One-Shot loader both produce them.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoder.descriptors import DESCRIPTORS

LABEL_COLUMNS: tuple[str, ...] = ("path",) + DESCRIPTORS + ("error",)
"""Columns of a `drumtimbre label` CSV."""


@dataclass(frozen=True)
class Record:
    """One labelled clip.  `labels` are AudioCommons points (7,) in DESCRIPTORS order."""

    path: str
    labels: tuple[float, ...]
    group: str
    """Kit or folder: grouped splits keep a group wholly in one split."""
    source: str
    """Where the record came from, e.g. a CSV path or 'freesound'."""


@dataclass
class Manifest:
    """An ordered list of records plus what was excluded while loading."""

    records: list[Record] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    """Reason -> count of records left out (NaN descriptors, errors, missing audio)."""
    left_out: list[str] = field(default_factory=list)
    """'FILE: reason' of each record left out for a file at fault (audio or analysis that cannot be read)."""

    def __len__(self) -> int:
        return len(self.records)

    def labels(self) -> np.ndarray:
        """(n, 7) AudioCommons points."""
        return np.array([r.labels for r in self.records], dtype=np.float64).reshape(-1, len(DESCRIPTORS))

    def paths(self) -> list[str]:
        """Each record's audio file path, in record order."""
        return [r.path for r in self.records]

    def groups(self) -> list[str]:
        """Each record's group (kit or folder), in record order."""
        return [r.group for r in self.records]

    def exclude(self, reason: str, n: int = 1) -> None:
        """Count `n` more records left out for `reason` in `excluded`."""
        self.excluded[reason] = self.excluded.get(reason, 0) + n

    def extend(self, other: "Manifest") -> "Manifest":
        """Append another manifest's records, exclusion counts and files left out; returns self."""
        self.records.extend(other.records)
        for k, v in other.excluded.items():
            self.exclude(k, v)
        self.left_out.extend(other.left_out)
        return self


def source_names(sources) -> dict[str, str]:
    """Short names that tell sources apart: each source's file name ('labels.csv'), or as many of its last path
    parts as make it unique among `sources` ('x/labels.csv', 'y/labels.csv'); the whole source where even that
    does not."""
    from collections import Counter

    uniq = sorted(set(map(str, sources)))
    parts = {s: Path(s).parts or (s,) for s in uniq}
    used = dict.fromkeys(uniq, 1)
    while True:
        names = {s: str(Path(*parts[s][-used[s]:])) for s in uniq}
        count = Counter(names.values())
        clash = [s for s in uniq if count[names[s]] > 1 and used[s] < len(parts[s])]
        if not clash:
            break
        for s in clash:
            used[s] += 1
    count = Counter(names.values())
    return {s: names[s] if count[names[s]] == 1 else s for s in uniq}


def parse_labels(row: dict[str, str]) -> tuple[float, ...] | None:
    """The 7 values of a CSV row, or None when any is missing or not finite."""
    try:
        values = tuple(float(row[n]) for n in DESCRIPTORS)
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def resolve_path(path: str, base: Path) -> str:
    """A path read from a CSV: relative paths are relative to the CSV's folder `base`."""
    p = Path(path)
    return path if p.is_absolute() else os.path.normpath(base / p)


def group_of(path: str) -> str:
    """Default group of a file: its parent folder (one kit per folder)."""
    return str(Path(path).parent)


def read_label_csv(csv_path: str | Path) -> Manifest:
    """Read a `drumtimbre label` CSV; rows with an error or missing values are excluded and counted.

    An optional `group` (or `kit`) column overrides the default group (parent folder).
    """
    csv_path = Path(csv_path)
    manifest = Manifest()
    with open(csv_path, newline="", errors="surrogateescape") as f:  # (file names need not be UTF-8)
        reader = csv.DictReader(f)
        missing = [c for c in ("path",) + DESCRIPTORS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: not a label CSV, missing columns {', '.join(missing)}")
        for row in reader:
            if not row.get("path"):
                manifest.exclude("row without path")
                continue
            if (row.get("error") or "").strip():
                manifest.exclude("labelling error")
                continue
            labels = parse_labels(row)
            if labels is None:
                manifest.exclude("missing or non-finite descriptor")
                continue
            path = resolve_path(row["path"], csv_path.parent)
            group = row.get("group") or row.get("kit") or group_of(path)
            manifest.records.append(Record(path, labels, group, str(csv_path)))
    return manifest


def load_manifests(sources: list[str | Path]) -> Manifest:
    """Label CSVs and/or Freesound dataset roots (folders with analysis/) -> one manifest."""
    from encoder.freesound import is_freesound_root, load_freesound

    out = Manifest()
    for src in map(Path, sources):
        if src.is_dir() and is_freesound_root(src):
            out.extend(load_freesound(src))
        elif src.is_file():
            out.extend(read_label_csv(src))
        else:
            raise FileNotFoundError(f"{src}: neither a label CSV nor a Freesound One-Shot dataset folder")
    return out
