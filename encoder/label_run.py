"""Label many files into a CSV: parallel, resumable, robust to bad files.

The CSV has the columns `path,hardness,depth,brightness,roughness,warmth,
sharpness,boominess,error` (AudioCommons points; `error` empty when labelled).
Beside it, `<csv>.sha256` lists the content hash of every labelled file in
`sha256sum` format.  `--resume` keeps what the CSV holds and skips files whose content is already labelled,
wherever they now live: a file moved (its old path gone) takes its old row under its new path, a copy gets
a row of its own.  It labels again a file whose content changed under the same name (its old row is
dropped).  A file has one row, under one name: given again under another spelling of its path (relative
or absolute, or through a symlink) it keeps the name its row has.  Rows are flushed as they complete, so
an interrupted run loses nothing already written.  A file name that is not valid UTF-8 (legal on Linux)
is labelled like any other and written as its bytes (Python's surrogateescape), in the CSV and the
sidecar alike.
"""
from __future__ import annotations

import csv
import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from encoder.descriptors import DESCRIPTORS
from encoder.manifest import LABEL_COLUMNS, parse_labels, resolve_path


@dataclass
class LabelSummary:
    """What a labelling run did."""

    out: Path
    total: int = 0
    labelled: int = 0
    reused: int = 0
    """Files skipped by --resume (content already labelled)."""
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of files that could not be labelled."""
    seconds: float = 0.0


def file_hash(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_path(csv_path: Path) -> Path:
    """The `.sha256` sidecar of a label CSV."""
    return csv_path.with_name(csv_path.name + ".sha256")


def stored_path(path: str | Path, out: Path) -> str:
    """How a file is named in the CSV: absolute paths as given; relative ones relative to the
    CSV's folder, so a CSV and its audio can move together."""
    path = Path(path)
    if path.is_absolute():
        return str(path)
    return os.path.relpath(path.resolve(), out.resolve().parent)


def label_one(path: str) -> tuple[str, tuple[float, ...] | None, str]:
    """Label one file -> (path, values or None, error).  Never raises for bad audio."""
    from encoder.labeller import label_file

    try:
        return path, tuple(float(v) for v in label_file(path)), ""
    except Exception as exc:  # one bad file must never stop a run
        reason = str(exc) if str(exc).startswith(path) else f"{path}: {exc}"
        return path, None, reason.replace("\n", " ")


def _die_with(parent: int) -> None:
    """Worker initializer: end when the labelling process dies, even by SIGKILL (Linux: the kernel sends
    SIGTERM; elsewhere, or if the parent is already gone, as far as can be seen): no orphan workers left
    holding the parent's terminal or pipe."""
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux
    if os.getppid() != parent:
        os._exit(1)


def _row(path: str, values: tuple[float, ...] | None, error: str) -> list[str]:
    cells = [f"{v:.6f}" for v in values] if values is not None else [""] * len(DESCRIPTORS)
    return [path, *cells, error]


def read_done(out: Path) -> tuple[list[list[str]], list[str | None], list[str]]:
    """Rows already labelled in `out`, in file order, the content hash of each, and the CSV's columns beyond
    LABEL_COLUMNS (e.g. build-data's `group`), whose values end each row.  Error rows and a row cut short by an
    interruption are dropped (they are labelled again).  A labelled row the sidecar has no hash for (the
    sidecar lost or cut short) is kept: its file is hashed now, or, where it no longer exists, the row is kept
    without a hash (None)."""
    rows: list[list[str]] = []
    digests: list[str | None] = []
    if not out.exists():
        return rows, digests, []
    by_path: dict[str, str] = {}
    sidecar = hash_path(out)
    if sidecar.exists():
        for line in sidecar.read_text(errors="surrogateescape").splitlines():
            digest, _, p = line.partition("  ")
            if len(digest) == 64 and p:
                by_path[p] = digest
    with open(out, newline="", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        extras = [c for c in reader.fieldnames or () if c and c not in LABEL_COLUMNS]
        for row in reader:
            labels = parse_labels(row)
            if labels is None or (row.get("error") or "").strip() or not row.get("path"):
                continue
            rows.append(_row(row["path"], labels, "") + [row.get(c) or "" for c in extras])
            digests.append(by_path.get(row["path"]) or _hash_if_there(resolve_path(row["path"], out.parent)))
    return rows, digests, extras


def _hash_if_there(path: str) -> str | None:
    try:
        return file_hash(path)
    except OSError:
        return None


class _Writer:
    """Appends rows to the CSV and hashes to its sidecar, flushing each."""

    def __init__(self, out: Path, keep: list[list[str]], keep_digests: list[str | None], extras: list[str] = ()):
        """Start `out` afresh with the rows `keep` (and their hashes, in the same order: one sidecar line
        per row that has a hash, so a rerun over the same files rewrites both files unchanged); `extras`: the
        columns after LABEL_COLUMNS whose values end each kept row (new rows leave them empty)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        self._blank = [""] * len(extras)
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "w", newline="", errors="surrogateescape") as f:
            w = csv.writer(f)
            w.writerow(list(LABEL_COLUMNS) + list(extras))
            w.writerows(keep)
        tmp_h = hash_path(tmp)
        tmp_h.write_text("".join(f"{h}  {r[0]}\n" for r, h in zip(keep, keep_digests) if h),
                         errors="surrogateescape")
        os.replace(tmp_h, hash_path(out))
        os.replace(tmp, out)
        self._csv_file = open(out, "a", newline="", errors="surrogateescape")
        self._csv = csv.writer(self._csv_file)
        self._hash_file = open(hash_path(out), "a", errors="surrogateescape")

    def write(self, path: str, values: tuple[float, ...] | None, error: str, digest: str | None) -> None:
        self._csv.writerow(_row(path, values, error) + self._blank)
        self._csv_file.flush()
        if values is not None and digest:
            self._hash_file.write(f"{digest}  {path}\n")
            self._hash_file.flush()

    def close(self) -> None:
        self._csv_file.close()
        self._hash_file.close()


def label_to_csv(paths: list[Path], out: Path, workers: int = 1, resume: bool = False,
                 progress: bool = True, prune: bool = False) -> LabelSummary:
    """Label audio files into `out` (CSV) with `workers` processes.

    With `resume`, files whose content hash is already labelled in `out` are
    not labelled again (a file with the same content under a new path gets a
    row copied from the old one, or, where the old one's file is gone, that
    row under the new path); rows with errors are retried; columns beyond
    LABEL_COLUMNS (build-data's `group`) are kept.  A file (by its resolved
    path) gets one row however it is spelled, under the name its row already
    has.  `prune` (build-data): kept rows of files neither in `paths` nor on
    disk are dropped (a smaller build's: train would refuse them).  Without
    `resume`, `out` is started afresh.
    """
    from tqdm import tqdm

    out = Path(out)
    start = time.perf_counter()
    summary = LabelSummary(out=out, total=len(paths))
    keep, keep_digests, extras = read_done(out) if resume else ([], [], [])
    # one file, one row, one name: a file given under another spelling than its row's (relative or absolute,
    # through a symlink) keeps the row's name, a file given twice is labelled once, and a second row of one
    # file (as older versions wrote for such a spelling) is dropped
    name_of: dict[str, str] = {}  # a file's resolved path -> its name in the CSV
    single = []
    for i, r in enumerate(keep):
        real = os.path.realpath(resolve_path(r[0], out.parent))
        if real not in name_of:
            name_of[real] = r[0]
            single.append(i)
    keep, keep_digests = [keep[i] for i in single], [keep_digests[i] for i in single]
    stored: dict[str, str] = {}
    hashed: dict[str, str | None] = {}
    files: list[str] = []  # the files of `paths`, each once
    given: set[str] = set()
    for p in map(str, paths):
        real = os.path.realpath(p)
        if real in given:
            summary.reused += 1
            continue
        given.add(real)
        files.append(p)
        stored[p] = name_of.setdefault(real, stored_path(p, out))
        try:
            hashed[p] = file_hash(p)
        except OSError:
            hashed[p] = None  # label_one reports the reason
    # a kept row whose file now holds other content (replaced under the same name) is stale: dropped, and
    # the file labelled again (or given the row of a file with its new content)
    now = {stored[p]: d for p, d in hashed.items()}
    fresh = [i for i, (r, h) in enumerate(zip(keep, keep_digests)) if r[0] not in now or (h and now[r[0]] == h)]
    keep, keep_digests = [keep[i] for i in fresh], [keep_digests[i] for i in fresh]
    done: dict[str, str] = {}  # content hash -> the first kept path with it
    for r, h in zip(keep, keep_digests):
        if h is not None:  # (a row without a hash: its file is gone; kept as it is)
            done.setdefault(h, r[0])
    labels_of = {r[0]: r[1:1 + len(DESCRIPTORS)] for r in keep}
    kept_paths = set(labels_of)
    # rows whose file is gone, by hash: content found again under a new path has moved there
    gone: dict[str, list[int]] = {}
    for i, (r, h) in enumerate(zip(keep, keep_digests)):
        if h is not None and not os.path.exists(resolve_path(r[0], out.parent)):
            gone.setdefault(h, []).append(i)
    moved: set[str] = set()
    todo: list[tuple[str, str | None]] = []
    extra_rows: list[tuple[str, list[str], str]] = []
    for p in files:
        name, digest = stored[p], hashed[p]
        if digest is None:
            todo.append((p, None))
            continue
        if digest in done:
            summary.reused += 1
            if name not in kept_paths:
                kept_paths.add(name)
                if gone.get(digest):  # moved: the new path takes the place of a row whose file is gone
                    i = gone[digest].pop(0)
                    keep[i] = [name, *keep[i][1:]]
                    moved.add(digest)
                else:  # a copy: a row of its own
                    extra_rows.append((name, labels_of[done[digest]], digest))
            continue
        todo.append((p, digest))
    # the other rows of moved content whose files are gone are stale (a row per file that is still there)
    stale = {i for h in moved for i in gone[h]}
    if prune:
        stale |= {i for i, r in enumerate(keep)
                  if r[0] not in now and not os.path.exists(resolve_path(r[0], out.parent))}
    keep = [r for i, r in enumerate(keep) if i not in stale]
    keep_digests = [h for i, h in enumerate(keep_digests) if i not in stale]
    writer = _Writer(out, keep, keep_digests, extras)
    for p, cells, digest in extra_rows:
        writer.write(p, tuple(float(c) for c in cells), "", digest)
    digests = dict(todo)
    bar = tqdm(total=len(todo), unit="file", desc="labelling", disable=not progress, dynamic_ncols=True)

    def record(path: str, values, error: str) -> None:
        writer.write(stored[path], values, error, digests.get(path))
        if values is None:
            summary.failed.append((path, error))
        else:
            summary.labelled += 1
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed), refresh=False)

    try:
        if workers <= 1:
            for p, _ in todo:
                record(*label_one(p))
        else:
            # rows are written in the order of `paths` (a rerun gives the same file), each as soon as all
            # before it are done; an interruption still writes every finished one
            with ProcessPoolExecutor(max_workers=workers, initializer=_die_with, initargs=(os.getpid(),)) as pool:
                index = {pool.submit(label_one, p): i for i, (p, _) in enumerate(todo)}
                finished: dict[int, tuple] = {}
                next_row = 0
                try:
                    for fut in as_completed(index):
                        i = index[fut]
                        try:
                            finished[i] = fut.result()
                        except BrokenProcessPool:
                            finished[i] = (todo[i][0], None, f"{todo[i][0]}: labelling worker process died")
                        while next_row in finished:
                            record(*finished.pop(next_row))
                            next_row += 1
                except KeyboardInterrupt:
                    for i in sorted(finished):
                        record(*finished[i])
                    for fut in index:  # (shutdown's cancel_futures alone left the queued files to run on
                        fut.cancel()   # Python 3.11: a Ctrl-C then waited for the whole run)
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
        writer.close()
        summary.seconds = time.perf_counter() - start
    return summary
