"""Scoring detected onsets against true ones: one-to-one matching within a tolerance, F-measure.

The rule of bench/onset_eval.py and of `drumtimbre onsets --truth`: pairs are
taken closest first, each true and each detected onset in at most one pair,
within `tol` seconds (`score_onsets`: 25 ms by default, as issue 5 asks; MIREX uses 50 ms).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def best_offset(est: np.ndarray, ref: np.ndarray, tol: float, first: int = 3) -> float:
    """The clock offset (s) to subtract from detections `est` so that the most of them match truth `ref`
    (within tol s), among the differences between the first `first` of each; the earliest such pair on a
    tie (first to first).  For a take recorded on another clock (listen's stream starts before playback)."""
    est, ref = np.asarray(est, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    candidates = [est[i] - ref[j] for i in range(min(first, est.size)) for j in range(min(first, ref.size))]
    return max(candidates, key=lambda off: len(match(est - off, ref, tol)))


def match(est: np.ndarray, ref: np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, closest pairs first: (ref index, est index) within tol seconds."""
    est, ref = np.asarray(est, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if est.size == 0 or ref.size == 0:
        return []
    # the candidate pairs, from the detections sorted in time (memory in the number of pairs within tol, not
    # ref.size x est.size: an hour's take at 8 hits a second is 28,800 of each), in (ref, est) index order
    by_time = np.argsort(est, kind="stable")
    sorted_est = est[by_time]
    margin = tol + 1e-9 * (1.0 + float(np.max(np.abs(ref))))  # wide enough; the exact test below decides
    lo = np.searchsorted(sorted_est, ref - margin, side="left")
    hi = np.searchsorted(sorted_est, ref + margin, side="right")
    counts = np.maximum(hi - lo, 0)
    ri = np.repeat(np.arange(ref.size), counts)
    pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    ei = by_time[np.repeat(lo, counts) + pos]
    d = np.abs(ref[ri] - est[ei])
    keep = d <= tol
    ri, ei, d = ri[keep], ei[keep], d[keep]
    rowmajor = np.lexsort((ei, ri))
    ri, ei, d = ri[rowmajor], ei[rowmajor], d[rowmajor]
    order = np.argsort(d, kind="stable")
    used_r, used_e, pairs = set(), set(), []
    for k in order:
        r, e = int(ri[k]), int(ei[k])
        if r not in used_r and e not in used_e:
            used_r.add(r)
            used_e.add(e)
            pairs.append((r, e))
    return pairs


@dataclass(frozen=True)
class OnsetScore:
    """Detected onsets against true ones at one tolerance."""

    f: float
    precision: float
    recall: float
    matched: int
    missed: np.ndarray
    """True onsets (s) with no detection within the tolerance."""
    extra: np.ndarray
    """Detected onsets (s) with no true onset within the tolerance."""
    tol_s: float


def score_onsets(est: np.ndarray, ref: np.ndarray, tol: float = 0.025) -> OnsetScore:
    """F, precision, recall, and the missed / extra onsets of detections `est` against truth `ref` (both s)."""
    est, ref = np.asarray(est, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    pairs = match(est, ref, tol)
    n = len(pairs)
    p = n / est.size if est.size else 0.0
    r = n / ref.size if ref.size else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    hit_r, hit_e = {i for i, _ in pairs}, {j for _, j in pairs}
    return OnsetScore(f, p, r, n, np.array([t for i, t in enumerate(ref) if i not in hit_r]),
                      np.array([t for j, t in enumerate(est) if j not in hit_e]), tol)


def read_times(path: str | Path) -> np.ndarray:
    """Onset times (s) from a text file, one per line (the first number of a line: Audacity label tracks read too;
    blank lines and # comments skipped), sorted; ValueError naming the file (and the line) otherwise: no such file,
    a folder, not text, a time that is not a finite number >= 0."""
    try:  # (as realtime.config.load_config reads its file)
        text = Path(path).read_text(encoding="utf-8-sig")  # (a byte-order mark, as Notepad writes one, is no text)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: a folder, not a file of times") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file of times (one time in seconds per line)") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    values = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            t = float(line.split()[0].rstrip(","))
        except ValueError:
            raise ValueError(f"{path}:{n}: {line!r} is not a time in seconds") from None
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"{path}:{n}: {line!r} is not a time in seconds (a finite number >= 0)")
        values.append(t)
    return np.sort(np.array(values, dtype=np.float64))
