"""Pictures of hits: `drumtimbre analyze --plot` (the recording, its hits, each descriptor per hit) and
`drumtimbre onsets --plot` (the recording, the detected onsets, and the true ones when given).

One figure, eight panels sharing the time axis (seconds from the start of the
file): the waveform (its per-column min/max, read in blocks, so a 10-minute file
draws as fast as a short one) with a red line at every hit's onset, then one panel per
descriptor, a point per hit at its onset time joined by a thin line.  Written
with matplotlib's Agg backend to PNG, PDF or SVG (by the file's suffix).
matplotlib is optional (`pip install matplotlib`, or the `plot` extra): it is
imported only here, and its absence is a clear error, not a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoder.descriptors import DESCRIPTORS

SUFFIXES = (".png", ".pdf", ".svg")
COLUMNS_DRAWN = 4000
"""The waveform is drawn as the min/max of at most this many columns."""


class PlotError(RuntimeError):
    """The plot cannot be written (no matplotlib, an unknown suffix, an unwritable path)."""


@dataclass(frozen=True)
class HitRow:
    """One hit of analyze's table."""

    hit: int
    onset_s: float
    """Onset, seconds from the start of the file."""
    peak_dbfs: float
    values: tuple[float, ...]
    """The 7 descriptors, in DESCRIPTORS order, in the table's scale (0-100 or 0-1)."""


def check_path(path: str | Path) -> Path:
    """`path` as a Path when its suffix is one we write (.png, .pdf, .svg); else PlotError naming it."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise PlotError(f"plot file {path}: expected a name ending in {', '.join(SUFFIXES)}")
    return path


def check_can_plot(path: str | Path) -> Path:
    """check_path, and matplotlib importable (PlotError saying what to install if not): for a command to ask
    before its work, not after it."""
    path = check_path(path)
    _pyplot()
    return path


@dataclass(frozen=True)
class Envelope:
    """A recording reduced for drawing: per column, its first sample's time and the min / max of its samples."""

    times_s: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    seconds: float
    """The recording's length, s."""


def envelope(x: np.ndarray, sample_rate: int, columns: int = COLUMNS_DRAWN) -> Envelope:
    """The Envelope of mono `x` (at `sample_rate` Hz) over at most `columns` equal columns; NaN and inf are drawn
    as silence, as the engine takes them."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    step = max(1, int(np.ceil(x.size / columns)))
    lo, hi = _columns(x, step)
    return Envelope(np.arange(lo.size) * step / sample_rate, lo, hi, x.size / sample_rate)


def _columns(x: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of mono `x` over each run of `step` samples (the last may be shorter); NaN and inf as 0."""
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    if not x.size:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    starts = np.arange(0, x.size, step)
    return np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)


def file_envelope(path: str | Path, mix: tuple[int, ...] | None = None, columns: int = COLUMNS_DRAWN) -> Envelope:
    """The Envelope of an audio file, its channels `mix` (0-based; default all) averaged, read in blocks
    (memory stays flat for a long file); NaN and inf drawn as silence."""
    import soundfile as sf

    from encoder.audio import length_unknown, sf_name

    from realtime.sources import read_blocks

    with sf.SoundFile(sf_name(path)) as f:
        rate, frames = f.samplerate, f.frames
        if length_unknown(frames):  # (a stream's header without its length: counted first, on a second handle)
            with sf.SoundFile(sf_name(path)) as counting:
                frames = sum(block.shape[0] for block in read_blocks(counting, 1 << 16))
        step = max(1, int(np.ceil(frames / columns)))
        lo, hi = [], []
        for block in read_blocks(f, step * 256):
            chans = block[:, list(mix)] if mix is not None else block
            block_lo, block_hi = _columns(chans.mean(axis=1, dtype=np.float32), step)
            lo.append(block_lo)
            hi.append(block_hi)
    lo_a = np.concatenate(lo) if lo else np.zeros(0, np.float32)
    hi_a = np.concatenate(hi) if hi else np.zeros(0, np.float32)
    return Envelope(np.arange(lo_a.size) * step / rate, lo_a, hi_a, frames / rate)


def plot_hits(wave: Envelope, rows: list[HitRow], path: str | Path, scale: str = "audiocommons",
              title: str = "") -> Path:
    """Draw the recording (its `wave`) and the per-hit descriptors of `rows` to `path`.

    `scale`: 'audiocommons' (values 0-100) or 'unit' (0-1), the panels' y range.  Returns the path."""
    path = check_path(path)
    plt = _pyplot()
    top = 100.0 if scale == "audiocommons" else 1.0
    seconds = max(wave.seconds, max((r.onset_s for r in rows), default=0.0), 1e-3)
    fig, axes = plt.subplots(1 + len(DESCRIPTORS), 1, sharex=True, figsize=(min(24.0, 8.0 + seconds / 4), 11.0),
                             gridspec_kw={"height_ratios": [2.0] + [1.0] * len(DESCRIPTORS)})
    try:
        ax0 = axes[0]
        peak = _draw_wave(ax0, wave)
        onsets = np.array([r.onset_s for r in rows])
        many = len(rows) > 200  # a long file: fainter lines behind the waveform, which they would hide
        ax0.vlines(onsets, -1.05 * peak, 1.05 * peak, colors="tab:red", linewidth=0.4 if many else 0.6,
                   alpha=0.35 if many else 0.7, zorder=1 if many else 3)
        ax0.set_title(title or f"{len(rows)} hits")
        values = np.array([r.values for r in rows], dtype=np.float64).reshape(len(rows), len(DESCRIPTORS))
        for k, (ax, name) in enumerate(zip(axes[1:], DESCRIPTORS)):
            ax.plot(onsets, values[:, k], color=f"C{k}", linewidth=0.6, alpha=0.5)
            ax.plot(onsets, values[:, k], "o", color=f"C{k}", markersize=3)
            ax.set_ylim(0.0, top)
            ax.set_ylabel(name, rotation=0, ha="right", va="center")
            ax.grid(True, axis="y", linewidth=0.3)
        axes[-1].set_xlim(0.0, seconds)
        axes[-1].set_xlabel("time, s" + ("  (descriptors in AudioCommons points, 0-100)" if top == 100.0
                                         else "  (descriptors normalised, 0-1)"))
        fig.align_ylabels(axes)
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def plot_onsets(wave: Envelope, onsets: np.ndarray, path: str | Path, truth: np.ndarray | None = None,
                title: str = "") -> Path:
    """Draw the recording (its `wave`) with the detected `onsets` (s) as red lines in the upper half and, when
    given, the true onsets `truth` (s) as green lines in the lower half, to `path`.  Returns the path."""
    path = check_path(path)
    plt = _pyplot()
    seconds = max(wave.seconds, 1e-3)
    fig, ax = plt.subplots(figsize=(min(24.0, 8.0 + seconds / 4), 3.2))
    try:
        peak = _draw_wave(ax, wave)
        ax.vlines(np.asarray(onsets), 0.0, 1.05 * peak, colors="tab:red", linewidth=0.7, zorder=3)
        if truth is not None:
            ax.vlines(np.asarray(truth), -1.05 * peak, 0.0, colors="tab:green", linewidth=0.7, zorder=3)
        ax.set_xlim(0.0, seconds)
        ax.set_xlabel("time, s   (red, above: detected onsets" + ("; green, below: true onsets)" if truth is not None
                                                                   else ")"))
        ax.set_title(title or f"{len(onsets)} onsets")
        _save(fig, path)
    finally:
        plt.close(fig)
    return path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotError(f"--plot needs matplotlib, which is not installed ({exc}): "
                        "pip install matplotlib (or the drumtimbre[plot] extra)") from None
    return plt


def _draw_wave(ax, wave: Envelope, zorder: int = 2) -> float:
    """The waveform's min/max fill on `ax`, scaled to its own peak (a quiet take fills the panel); the peak."""
    peak = float(max(np.max(np.abs(wave.lo), initial=0.0), np.max(np.abs(wave.hi), initial=0.0))) or 1.0
    ax.fill_between(wave.times_s, wave.lo, wave.hi, color="slategray", linewidth=0.8, step="post", zorder=zorder)
    ax.set_ylim(-1.05 * peak, 1.05 * peak)
    ax.set_ylabel("waveform")
    return peak


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise PlotError(f"cannot write plot file {path}: {exc}") from None
