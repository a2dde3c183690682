"""Evaluation: MAE per descriptor, against a median predictor and against window length.

Works with Keras models (`.keras`, needs TensorFlow) and ONNX models
(`.onnx`, ONNX Runtime only: this path never imports TensorFlow).  Errors are
reported in normalised units (0-1 over the dataset's ranges) and in
AudioCommons points (0-100).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, normalise, points_per_unit
from encoder.manifest import Manifest, source_names

WINDOWS_MS: tuple[int, ...] = (25, 50, 100, 250, 1000)
"""Window lengths after the onset at which MAE is measured, milliseconds."""

Predictor = Callable[[np.ndarray], np.ndarray]
"""(n, 16000) float32 model inputs -> (n, 7) normalised descriptors."""


def keras_predictor(path: str | Path, batch_size: int = 256) -> Predictor:
    """A `.keras` model as a predictor (imports TensorFlow); ValueError naming the file if it cannot be loaded."""
    from export.keras_to_onnx import load_keras_model

    model = load_keras_model(path)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x[..., None], batch_size=batch_size, verbose=0), dtype=np.float64)

    return predict


def onnx_predictor(path: str | Path, batch_size: int = 256) -> Predictor:
    """An `.onnx` model with the drumtimbre contract, via `realtime.runtime.load_model`; no TensorFlow."""
    from realtime.runtime import load_model

    model = load_model(path, warmup=False)

    def predict(x: np.ndarray) -> np.ndarray:
        parts = [model.predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, len(DESCRIPTORS)))

    return predict


def load_predictor(path: str | Path) -> Predictor:
    """A predictor for a `.keras` or `.onnx` file; ValueError for anything else."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".keras":
        return keras_predictor(path)
    if path.suffix == ".onnx":
        return onnx_predictor(path)
    raise ValueError(f"{path}: unknown model format (expected .keras or .onnx)")


def mae_table(pred_norm: np.ndarray, true_norm: np.ndarray) -> dict:
    """Overall and per-descriptor MAE in normalised units and AudioCommons points."""
    err = np.abs(np.asarray(pred_norm) - np.asarray(true_norm))
    per = err.mean(axis=0) if len(err) else np.full(len(DESCRIPTORS), np.nan)
    pts = per * points_per_unit()
    return {
        "mae": float(per.mean()),
        "mae_points": float(pts.mean()),
        "per_descriptor": {n: {"mae": float(a), "mae_points": float(b)} for n, a, b in zip(DESCRIPTORS, per, pts)},
    }


def truncate(x: np.ndarray, ms: float) -> np.ndarray:
    """Keep the first `ms` milliseconds of each row of (n, 16000); zeros after."""
    out = np.array(x, dtype=np.float32, copy=True)
    out[:, int(round(ms * SAMPLE_RATE / 1000)):] = 0.0
    return out


def scatter_plot(pred_norm: np.ndarray, true_norm: np.ndarray, path: Path, title: str = "") -> None:
    """Predicted against true, one panel per descriptor (7 panels), normalised units -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(14, 7))
    for k, (ax, name) in enumerate(zip(axes.flat, DESCRIPTORS)):
        ax.scatter(true_norm[:, k], pred_norm[:, k], s=4, alpha=0.4)
        lo = float(min(true_norm[:, k].min(initial=0), pred_norm[:, k].min(initial=0)))
        hi = float(max(true_norm[:, k].max(initial=1), pred_norm[:, k].max(initial=1)))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        mae = float(np.mean(np.abs(pred_norm[:, k] - true_norm[:, k]))) if len(true_norm) else float("nan")
        ax.set_title(f"{name}  MAE {mae:.3f}")
        ax.set_xlabel("true (normalised)")
        ax.set_ylabel("predicted")
    axes.flat[-1].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate(predict: Predictor, manifest: Manifest, x: np.ndarray, baseline_points: np.ndarray,
             baseline_source: str, windows_ms: tuple[int, ...] = WINDOWS_MS) -> tuple[dict, np.ndarray]:
    """Report on `manifest` with inputs `x` (n, 16000) -> (report dict, full-window predictions normalised).

    `baseline_points` (n_ref, 7) are the labels whose per-descriptor median is
    the median predictor; `baseline_source` says where they came from.
    """
    true = normalise(manifest.labels())
    pred = predict(x)
    median = normalise(np.median(np.asarray(baseline_points), axis=0))
    report = {
        "clips": len(manifest),
        "descriptors": list(DESCRIPTORS),
        **mae_table(pred, true),
        "median_baseline": {"source": baseline_source, "median_points": np.median(baseline_points, axis=0).tolist(),
                            **mae_table(np.broadcast_to(median, true.shape), true)},
    }
    names = source_names(r.source for r in manifest.records)  # two labels.csv in two folders: two entries
    sources = np.array([names[r.source] for r in manifest.records])
    by_window: dict[str, dict] = {}
    window_preds = {}
    for ms in windows_ms:
        p = pred if ms * SAMPLE_RATE / 1000 >= x.shape[1] else predict(truncate(x, ms))
        window_preds[ms] = p
        by_window[str(ms)] = mae_table(p, true)
    report["by_window_ms"] = by_window
    report["by_source"] = {
        s: {"clips": int((sources == s).sum()), **mae_table(pred[sources == s], true[sources == s]),
            "by_window_ms": {str(ms): float(np.abs(window_preds[ms][sources == s] - true[sources == s]).mean())
                             for ms in windows_ms},
            "median_baseline_mae": float(np.abs(median - true[sources == s]).mean())}
        for s in sorted(set(sources))
    }
    return report, pred


def write_report(report: dict, pred: np.ndarray, true_norm: np.ndarray, out: Path, title: str = "") -> None:
    """`report.json` and `scatter.png` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    scatter_plot(pred, true_norm, out / "scatter.png", title)
