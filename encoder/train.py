"""Training: Adam on the MAE of normalised descriptors, early stopping on validation.

A run directory keeps everything needed to reuse or judge the model:
`model.keras`, `split.csv` (path,group,split), `normalisation.json`,
`run.json`, `history.csv` and `loss.png`.  Runs are seeded: the split, the
weights, the shuffling and the window truncation all follow `seed`.
"""
from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoder.descriptors import DESCRIPTORS, MAXS, MINS
from encoder.manifest import Manifest, source_names


@dataclass
class TrainConfig:
    """What to train and how."""

    data: list[str]
    """Label CSVs and/or Freesound dataset folders."""
    arch: str
    out: Path
    epochs: int = 60
    seed: int = 0
    grouped: bool = False
    batch_size: int = 32
    lr: float = 1e-3
    truncate_fraction: float = 0.5
    """Share of each training batch cut to a random 25-1000 ms window."""
    patience: int = 10
    """Epochs without validation improvement before stopping."""
    oversample: dict[str, int] = field(default_factory=dict)
    """Source file name (e.g. 'debian.csv') -> times its training clips are repeated per epoch."""
    progress: bool = True
    all_data: bool = False
    """Refit: train on every clip for exactly `epochs` epochs, with no validation or test split (use the
    epoch count a grouped run chose; judge the recipe with that run, never this model)."""
    schedule_from: Path | None = None
    """With `all_data`: a grouped run folder whose learning-rate schedule (history.csv, set there by
    ReduceLROnPlateau on validation) is replayed epoch by epoch, so the refit follows the run that judged it."""
    ema: float = 0.0
    """Momentum of an exponential moving average of the weights (0: none).  With it, validation, early
    stopping and the saved model use the averaged weights."""
    extra: dict = field(default_factory=dict)


def summarise_sources(manifest: Manifest, assignment: list[str]) -> str:
    """A short human summary: 'synth.csv 2400 (1536/384/480), debian.csv 928 (...)' as train/val/test."""
    parts = []
    names = source_names([r.source for r in manifest.records])
    by_source: dict[str, Counter] = {}
    for r, s in zip(manifest.records, assignment):
        by_source.setdefault(names[r.source], Counter())[s] += 1
    for name, c in by_source.items():
        parts.append(f"{name} {sum(c.values())} clips ({c['train']}/{c['validation']}/{c['test']} train/val/test)")
    return "; ".join(parts)


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Training and validation loss against epoch -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history["loss"], label="training (with truncated windows)")
    if "val_loss" in history:
        ax.plot(history["val_loss"], label="validation (full + truncated)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MAE, normalised units")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def lr_schedule(run: Path) -> list[float]:
    """The learning rate of every epoch of a finished run (its history.csv), in order."""
    path = run / "history.csv"
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        key = "learning_rate" if rows and "learning_rate" in rows[0] else "lr"
        rates = [float(r[key]) for r in rows]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: no learning-rate history to replay ({exc})") from exc
    if not rates:
        raise ValueError(f"{path}: empty history")
    return rates


def train(cfg: TrainConfig) -> dict:
    """Train one model into `cfg.out`; returns the run.json contents."""
    import keras
    import tensorflow as tf

    from encoder import dataset, splits
    from encoder.models import build

    if (cfg.epochs < 1 or cfg.batch_size < 1 or not (0.0 <= cfg.truncate_fraction <= 1.0) or cfg.lr <= 0
            or not 0.0 <= cfg.ema < 1.0):
        raise ValueError(f"bad training settings: epochs={cfg.epochs}, batch_size={cfg.batch_size}, "
                         f"lr={cfg.lr}, truncate_fraction={cfg.truncate_fraction}, ema={cfg.ema}")
    out = Path(cfg.out)
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()

    manifest = dataset.load_readable(cfg.data, "train")
    # decoded before the split is drawn or anything is written: a clip whose audio fails to decode is left out
    # (named, in run.json's left_out) and is in no split, and a run refused here leaves no half-written folder
    manifest, x_all = dataset.load_usable_audio(manifest, "train", cache_dir=out.parent / ".cache",
                                                progress=cfg.progress)
    if len(manifest) < 5:
        raise ValueError(f"need at least 5 labelled clips, got {len(manifest)} from {', '.join(map(str, cfg.data))}")
    if cfg.all_data:
        assignment = ["train"] * len(manifest)
    else:
        assignment = splits.assign_by_source(manifest, cfg.seed, cfg.grouped)
    y_all = dataset.targets(manifest)
    a = np.array(assignment)
    names = np.array([Path(r.source).name for r in manifest.records])
    unknown = set(cfg.oversample) - set(names)
    if unknown:
        raise ValueError(f"--oversample names unknown sources {', '.join(sorted(unknown))}; "
                         f"sources are {', '.join(sorted(set(names)))}")
    repeats = np.array([cfg.oversample.get(n, 1) for n in names])
    train_idx = np.repeat(np.nonzero(a == "train")[0], repeats[a == "train"])
    x_tr, y_tr = x_all[train_idx], y_all[train_idx]
    x_va, y_va = dataset.validation_arrays(x_all[a == "validation"], y_all[a == "validation"], cfg.seed)
    if len(x_tr) == 0 or (len(x_va) == 0 and not cfg.all_data):
        raise ValueError(f"empty training or validation split ({len(x_tr)} / {len(x_va)} clips)")
    if cfg.schedule_from is not None and not cfg.all_data:
        raise ValueError("schedule_from replays a grouped run's learning rates in an --all-data refit only")
    schedule = lr_schedule(Path(cfg.schedule_from)) if cfg.schedule_from is not None else None

    out.mkdir(parents=True, exist_ok=True)
    splits.save(out / "split.csv", manifest, assignment)
    (out / "normalisation.json").write_text(json.dumps(
        {"names": list(DESCRIPTORS), "mins": MINS.tolist(), "maxs": MAXS.tolist()}, indent=2))

    model = build(cfg.arch)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr, use_ema=cfg.ema > 0, ema_momentum=cfg.ema or 0.99),
                  loss="mae")
    monitor = "loss" if cfg.all_data else "val_loss"
    if schedule is not None:
        lr_callback = keras.callbacks.LearningRateScheduler(lambda epoch, _: schedule[min(epoch, len(schedule) - 1)])
    else:
        lr_callback = keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5,
                                                        patience=max(3, cfg.patience // 2))
    callbacks = [lr_callback, keras.callbacks.CSVLogger(str(out / "history.csv"))]
    if not cfg.all_data:
        callbacks.insert(0, keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                                          restore_best_weights=True))
    if cfg.ema:  # first: the averaged weights are in the model whenever the others look (and when it ends)
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    start = time.perf_counter()
    hist = model.fit(
        dataset.training_dataset(x_tr, y_tr, cfg.batch_size, cfg.seed, cfg.truncate_fraction),
        validation_data=None if cfg.all_data else dataset.eval_dataset(x_va, y_va, 256),
        epochs=cfg.epochs, callbacks=callbacks, verbose=1 if cfg.progress else 0,
        shuffle=False,  # the tf.data pipeline shuffles (seeded); Keras cannot shuffle a Dataset
    )
    seconds = time.perf_counter() - start
    model.save(out / "model.keras")
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    plot_history(history, out / "loss.png")
    epochs_run = len(history["loss"])
    info = {
        "architecture": cfg.arch,
        "parameters": int(model.count_params()),
        "training_data": summarise_sources(manifest, assignment),
        "data": [str(d) for d in cfg.data],
        "cwd": os.getcwd(),  # the folder split.csv's relative paths are taken from
        "excluded": manifest.excluded,
        "left_out": manifest.left_out,
        "seed": cfg.seed,
        "grouped": cfg.grouped,
        "epochs_run": epochs_run,
        "epochs_max": cfg.epochs,
        "best_epoch": int(np.argmin(history["val_loss"])) + 1 if "val_loss" in history else epochs_run,
        "best_val_mae": float(np.min(history["val_loss"])) if "val_loss" in history else None,
        "all_data": cfg.all_data,
        "schedule_from": None if cfg.schedule_from is None else str(cfg.schedule_from),
        "validation": ("none: refit on every clip for a fixed number of epochs" if cfg.all_data else
                       "full validation clips plus one copy of each truncated to a log-uniform 25-1000 ms"),
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "truncate_fraction": cfg.truncate_fraction,
        "oversample": cfg.oversample,
        "patience": cfg.patience,
        "ema": cfg.ema,
        "train_seconds": round(seconds, 1),
        "seconds_per_epoch": round(seconds / epochs_run, 2),
        "counts": {s: int((a == s).sum()) for s in splits.SPLITS},
    }
    info.update(cfg.extra)
    (out / "run.json").write_text(json.dumps(info, indent=2))
    return info

