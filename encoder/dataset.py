"""Training data in memory and as tf.data pipelines.

Clips are decoded once with `encoder.audio.model_input` (prepared, zero-padded
to 16,000 samples) and optionally cached as .npy (training caches beside its run folders, in `.cache/`) keyed by the
list of paths and their sizes and modification times; a clip that fails to decode is left out and named
(`load_usable_audio`), never a reason to stop a run.  Targets are the
descriptors normalised with `encoder.descriptors.normalise`.

Window truncation: a model must predict the full clip's descriptors from the
first tens of milliseconds after an onset, so training batches carry, for a
fraction of their clips, only the first L samples (zero-padded), L drawn
log-uniformly between 25 ms and 1 s; the targets stay those of the full clip.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from encoder import audio
from encoder.descriptors import SAMPLE_RATE, WINDOW_SAMPLES, normalise
from encoder.manifest import Manifest

MIN_TRUNCATE_S = 0.025
"""Shortest training window after the onset, seconds."""


def _cache_key(paths: list[str]) -> str:
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def drop_unreadable(manifest: Manifest) -> tuple[Manifest, list[str]]:
    """The manifest without records whose audio file cannot be opened or holds no frames (an empty or
    corrupt download: one such file in 10,000 must not stop a training run), counted in `excluded` under
    "unreadable audio"; and the reasons, one per dropped record, each naming its file.  Only headers are read."""
    import soundfile as sf

    from encoder.audio import sf_name

    keep, reasons = [], []
    for r in manifest.records:
        if not os.path.exists(r.path):
            keep.append(r)  # (load_audio names missing files)
            continue
        try:
            frames = sf.info(sf_name(r.path)).frames
        except Exception as exc:
            reasons.append(f"{r.path}: cannot decode audio ({str(exc).splitlines()[0] if str(exc) else exc!r})")
            continue
        if frames == 0:
            reasons.append(f"{r.path}: empty audio (0 frames)")
            continue
        keep.append(r)
    out = Manifest(keep, dict(manifest.excluded), manifest.left_out + reasons)
    if reasons:
        out.exclude("unreadable audio", len(reasons))
    return out, reasons


def warn_left_out(reasons: list[str], command: str) -> None:
    """Name files left out for being unreadable on stderr, under `drumtimbre COMMAND` (the first SHOW_LEFT_OUT,
    then a count)."""
    import sys

    if reasons:
        more = f"\n  ... and {len(reasons) - SHOW_LEFT_OUT} more" if len(reasons) > SHOW_LEFT_OUT else ""
        print(f"drumtimbre {command}: warning: {len(reasons)} file(s) left out, unreadable:\n  "
              + "\n  ".join(reasons[:SHOW_LEFT_OUT]) + more, file=sys.stderr)


def load_readable(sources, command: str) -> Manifest:
    """`load_manifests(sources)` without the unreadable clips (`drop_unreadable`); a warning on stderr, under
    `drumtimbre COMMAND`, names each file left out for being unreadable (audio or analysis; the first
    SHOW_LEFT_OUT, then a count: all are in `Manifest.left_out`, which train writes to run.json).  Audio that
    fails only when decoded is left out by `load_usable_audio`."""
    from encoder.manifest import load_manifests

    manifest, _ = drop_unreadable(load_manifests(sources))
    warn_left_out(manifest.left_out, command)
    return manifest


def left_out_of(*manifests: Manifest) -> list[str]:
    """Every file the manifests left out, each once, in order (a manifest and the splits cut from it: a split keeps
    no `left_out` of its own but what decoding its clips added)."""
    return list(dict.fromkeys(r for m in manifests for r in m.left_out))


SHOW_LEFT_OUT = 50
"""Files left out that warn_left_out names on stderr, at most."""


def _decode(manifest: Manifest, cache_dir: Path | None, progress: bool
            ) -> tuple[Manifest, np.ndarray, list[int], list[str]]:
    """(the records whose audio could be prepared, their model inputs, the rows of the others in `manifest` and
    'FILE: reason' of each)."""
    import json

    from tqdm import tqdm

    paths = manifest.paths()
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} audio files of the manifest are missing, e.g. {missing[0]}")
    cache = bad_cache = None
    if cache_dir is not None and paths:
        cache = Path(cache_dir) / f"audio-{_cache_key(paths)}.npy"
        bad_cache = cache.with_suffix(".left_out.json")  # the rows the .npy lacks, when some failed
        if cache.exists():
            x = np.load(cache)
            try:
                bad = json.loads(bad_cache.read_text()) if bad_cache.exists() else {"rows": [], "reasons": []}
                rows, reasons = [int(i) for i in bad["rows"]], [str(r) for r in bad["reasons"]]
            except (OSError, ValueError, TypeError, KeyError):
                rows = None  # decoded again below
            if rows is not None and len(x) + len(rows) == len(paths) and len(rows) == len(reasons):
                return _without(manifest, rows, reasons), x, rows, reasons
    x = np.zeros((len(paths), WINDOW_SAMPLES), dtype=np.float32)
    rows, reasons = [], []
    for i, p in enumerate(tqdm(paths, desc="loading audio", unit="clip", disable=not progress, dynamic_ncols=True)):
        try:
            x[i] = audio.model_input(p)
        except audio.AudioError as exc:  # fails mid-stream, silent, non-finite: this clip only
            rows.append(i)
            reasons.append(f"{p}: {exc.reason}")
    x = np.delete(x, rows, axis=0) if rows else x
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        if rows:  # before the .npy, whose presence says the pair is complete
            tmp = bad_cache.with_name(f"{bad_cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"rows": rows, "reasons": reasons}))
            os.replace(tmp, bad_cache)
        else:
            bad_cache.unlink(missing_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp.npy")  # per process: runs may share a cache
        np.save(tmp, x)
        os.replace(tmp, cache)  # atomic: a reader sees the old file, the new one, or none
    return _without(manifest, rows, reasons), x, rows, reasons


def _without(manifest: Manifest, rows: list[int], reasons: list[str]) -> Manifest:
    """`manifest` less the records at `rows`, counted under "unreadable audio" and named in `left_out`."""
    if not rows:
        return manifest
    drop = set(rows)
    out = Manifest([r for i, r in enumerate(manifest.records) if i not in drop], dict(manifest.excluded),
                   manifest.left_out + list(reasons))
    out.exclude("unreadable audio", len(rows))
    return out


def load_usable_audio(manifest: Manifest, command: str, cache_dir: Path | None = None,
                      progress: bool = True) -> tuple[Manifest, np.ndarray]:
    """(the manifest less the clips whose audio cannot be prepared, the model inputs (n, 16000) float32 of those
    kept, in order).  A clip whose header reads but whose audio fails when decoded (corrupt mid-stream, all
    silence: a half-written download) is left out as `drop_unreadable` leaves out what cannot be opened: counted
    under "unreadable audio", named in `left_out` and on stderr under `drumtimbre COMMAND`; one such file does
    not stop a run.  FileNotFoundError names a missing file."""
    kept, x, _, reasons = _decode(manifest, cache_dir, progress)
    warn_left_out(reasons, command)
    return kept, x


def load_audio(manifest: Manifest, cache_dir: Path | None = None, progress: bool = True) -> np.ndarray:
    """Model inputs (n, 16000) float32 of a manifest's records; raises FileNotFoundError naming a missing file and
    AudioError naming the first clip that cannot be prepared (`load_usable_audio` leaves such clips out)."""
    _, x, rows, reasons = _decode(manifest, cache_dir, progress)
    if rows:
        path = manifest.records[rows[0]].path
        more = f" (and {len(rows) - 1} more clips)" if len(rows) > 1 else ""
        raise audio.AudioError(path, reasons[0][len(path) + 2:] + more)
    return x


def targets(manifest: Manifest) -> np.ndarray:
    """Normalised descriptors (n, 7) float32."""
    return normalise(manifest.labels()).astype(np.float32)


def truncation_lengths(n: int, rng: np.random.Generator, lo_s: float = MIN_TRUNCATE_S,
                       hi_s: float = WINDOW_SAMPLES / SAMPLE_RATE) -> np.ndarray:
    """`n` window lengths in samples, log-uniform between lo_s and hi_s seconds."""
    s = np.exp(rng.uniform(np.log(lo_s), np.log(hi_s), n))
    return np.round(s * SAMPLE_RATE).astype(np.int64)


def cut_copies(x: np.ndarray, rng: np.random.Generator, lo_s: float = MIN_TRUNCATE_S,
               hi_s: float = WINDOW_SAMPLES / SAMPLE_RATE) -> np.ndarray:
    """One copy of each (n, 16000) clip cut to a log-uniform lo_s-hi_s window (seconds; the rest zero)."""
    xt = np.array(x, copy=True)
    for i, n in enumerate(truncation_lengths(len(x), rng, lo_s, hi_s)):
        xt[i, n:] = 0.0
    return xt


def with_truncated_copies(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The (n, 16000) clips plus one copy of each cut to a log-uniform 25-1000 ms window (the rest zero),
    with the full clips' labels: (2n, 16000), (2n, ...)."""
    return np.concatenate([x, cut_copies(x, rng)]), np.concatenate([y, y])


def validation_arrays(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation set = the full clips plus one truncated copy of each (fixed log-uniform lengths)."""
    return with_truncated_copies(x, y, np.random.default_rng(seed + 1))


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     truncate_fraction: float = 0.5):
    """Shuffled, batched tf.data pipeline with random window truncation; (batch, 16000, 1) -> (batch, 7)."""
    import tensorflow as tf

    lo = np.log(MIN_TRUNCATE_S * SAMPLE_RATE)
    hi = np.log(float(WINDOW_SAMPLES))

    def cut(xb, yb):
        n = tf.shape(xb)[0]
        length = tf.exp(tf.random.uniform([n], lo, hi, seed=seed))
        keep = tf.random.uniform([n], seed=seed + 7) < truncate_fraction
        length = tf.where(keep, length, float(WINDOW_SAMPLES))
        mask = tf.cast(tf.range(WINDOW_SAMPLES, dtype=tf.float32)[None, :] < length[:, None], tf.float32)
        return (xb * mask)[..., None], yb

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return ds.map(cut, num_parallel_calls=1, deterministic=True).prefetch(2)


def eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int):
    """Batched tf.data pipeline without augmentation, cached."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x[..., None], y)).cache().batch(batch_size).prefetch(2)
