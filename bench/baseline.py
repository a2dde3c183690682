"""Classical baseline: gradient boosting on log-mel statistics, one regressor per descriptor.

Features of a model input (16,000 samples, zero-padded): 40-band log-mel
spectrogram (n_fft 512, hop 128 at 16 kHz) summarised over time by mean,
standard deviation and maximum per band, plus the frame index of the loudest
frame, the number of frames above -60 dB and the spectral centroid statistics.
sklearn's HistGradientBoostingRegressor (one per descriptor, seeded) is
trained on the run's training split, with the same window truncation as the
networks (each training clip plus one copy truncated to a log-uniform
25-1000 ms), and judged on the test split, by source and by window length.

    .venv/bin/python bench/baseline.py --run data/runs/pooled \
        --data data/labels/synth.csv data/labels/debian.csv --out data/runs/baseline
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder import dataset, splits  # noqa: E402
from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, normalise  # noqa: E402
from encoder.evaluate import evaluate, write_report  # noqa: E402
from encoder.manifest import Manifest, load_manifests  # noqa: E402

N_MELS = 40


def features(x: np.ndarray) -> np.ndarray:
    """(n, 16000) model inputs -> (n, 3 * 40 + 5) log-mel statistics."""
    import librosa

    mel = librosa.feature.melspectrogram(y=np.asarray(x, dtype=np.float32), sr=SAMPLE_RATE, n_fft=512,
                                         hop_length=128, n_mels=N_MELS, power=2.0)  # (n, mels, frames)
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    frame_db = librosa.power_to_db(mel.sum(axis=1), ref=1.0, amin=1e-10, top_db=None)  # (n, frames)
    loud = frame_db.max(axis=1, keepdims=True)
    active = (frame_db > loud - 60).sum(axis=1)
    freqs = librosa.mel_frequencies(N_MELS, fmax=SAMPLE_RATE / 2)
    weights = mel / np.maximum(mel.sum(axis=1, keepdims=True), 1e-12)
    centroid = (weights * freqs[None, :, None]).sum(axis=1)  # (n, frames)
    return np.concatenate([
        db.mean(axis=2), db.std(axis=2), db.max(axis=2),
        frame_db.argmax(axis=1)[:, None], active[:, None], loud,
        np.median(centroid, axis=1)[:, None], centroid[:, :4].mean(axis=1)[:, None],
    ], axis=1).astype(np.float32)


class BoostedBaseline:
    """Seven HistGradientBoostingRegressors on log-mel statistics; predicts normalised descriptors."""

    def __init__(self, seed: int = 0, max_iter: int = 400):
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.models = [HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.05, loss="absolute_error",
                                                     random_state=seed, early_stopping=True,
                                                     validation_fraction=0.15) for _ in DESCRIPTORS]

    def fit(self, x: np.ndarray, y_norm: np.ndarray) -> "BoostedBaseline":
        f = features(x)
        for k, m in enumerate(self.models):
            m.fit(f, y_norm[:, k])
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        f = features(x)
        return np.stack([m.predict(f) for m in self.models], axis=1)


def run_split(run_dir: Path, manifest: Manifest) -> tuple[Manifest, Manifest]:
    """(training, test) records of `manifest` by `run_dir`'s saved split."""
    saved = splits.load(run_dir / "split.csv")
    return (splits.in_split(manifest, saved, "train"),
            splits.in_split(manifest, saved, "test"))


def fit_on(train: Manifest, cache_dir: Path, seed: int = 0, progress: bool = True) -> BoostedBaseline:
    """The baseline fitted on `train`: every clip plus one copy cut to a log-uniform 25-1000 ms window."""
    x_tr = dataset.load_audio(train, cache_dir=cache_dir, progress=progress)
    y_tr = dataset.targets(train)
    return BoostedBaseline(seed).fit(*dataset.with_truncated_copies(x_tr, y_tr, np.random.default_rng(seed + 2)))


def run_baseline(run_dir: Path, data: list[str], out: Path, seed: int = 0) -> dict:
    """Train on `run_dir`'s training split, evaluate on its test split -> report dict (also written to `out`)."""
    train, test = run_split(run_dir, load_manifests(data))
    start = time.perf_counter()
    model = fit_on(train, run_dir.parent / ".cache", seed)
    fit_s = time.perf_counter() - start
    x_te = dataset.load_audio(test, cache_dir=run_dir.parent / ".cache")
    report, pred = evaluate(model, test, x_te, train.labels(), f"median of the run's {len(train)} training labels")
    report.update({"model": "HistGradientBoosting on log-mel statistics", "run": str(run_dir),
                   "fit_seconds": round(fit_s, 1), "train_clips": len(train)})
    write_report(report, pred, normalise(test.labels()), out, "gradient boosting baseline on test")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="run folder whose split.csv to use")
    p.add_argument("--data", nargs="+", required=True, help="the label CSVs the run was trained on")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    r = run_baseline(args.run, args.data, args.out, args.seed)
    print(json.dumps({"mae": r["mae"], "by_window_ms": {k: v["mae"] for k, v in r["by_window_ms"].items()},
                      "by_source": {k: v["mae"] for k, v in r["by_source"].items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
