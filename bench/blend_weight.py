"""Choose the blend's weight on validation clips: MAE of (1 - w) x network + w x trees for w = 0, 0.1, ..., 1.

For every blend run folder given (`drumtimbre blend` of a grouped run), the
network's and the trees' outputs on the run's *validation* split (never its
test split) are mixed with each weight, at windows of 25, 100 and 1000 ms
after the onset; reported per window and as the mean over the three, pooled
over the runs, for the real kit clips (debian.csv, extra.csv) and for all
validation clips.  Then the same for a share that depends on the window's
sounding length (`encoder.blend.share_by_length`): every choice of shares
0, 0.1, ..., 1 at 25, 100 and 1000 ms.  The weight to ship is the one with
the lowest mean on the real kit clips.  Last, for a blend with a forest for
short windows (`drumtimbre blend --short-trees`), the shares at 8 and 16 ms
(the best long anchors kept) by the mean over 8, 13 and 18 ms windows: early
estimates from less audio than the network trained on.

    .venv/bin/python bench/blend_weight.py --runs data/runs/extra2_s0_blend data/runs/extra2_s1_blend \
        data/runs/extra2_s2_blend --data $D --md bench/results/blend_weight.md
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder import dataset, splits  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.evaluate import truncate  # noqa: E402
from encoder.manifest import Manifest, load_manifests  # noqa: E402
from report import emit  # noqa: E402

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
WINDOWS = (25, 100, 1000)
SHORT_WINDOWS = (8, 13, 18)
SHORT_ANCHORS = (8, 16)
REAL = ("debian.csv", "extra.csv")


def heads(run: Path, manifest: Manifest) -> dict:
    """Network and trees outputs (normalised) on `run`'s validation split, per window, with the labels."""
    import keras

    from encoder import blend
    from export.keras_to_onnx import load_keras_model

    model = load_keras_model(run / "model.keras")
    found = blend.parts(model)
    if found is None:
        raise SystemExit(f"{run}: not a blend (drumtimbre blend)")
    stub = keras.Model(model.input, [found.network, model.get_layer("blend").input[1]])  # the trees' part
    saved = splits.load(run / "split.csv")
    val = splits.in_split(manifest, saved, "validation")
    x = dataset.load_audio(val, cache_dir=run.parent / ".cache", progress=False)
    out = {"true": normalise(val.labels()), "real": np.array([Path(r.source).name in REAL for r in val.records])}
    out["short"] = found.short_forest is not None
    for ms in SHORT_WINDOWS + WINDOWS:
        xi = (x if ms >= 1000 else truncate(x, ms))[..., None]
        parts = [stub(xi[i:i + 256], training=False) for i in range(0, len(xi), 256)]
        out[ms] = tuple(np.concatenate([np.asarray(p[k]) for p in parts]).astype(np.float64) for k in (0, 1))
        out[f"sounding {ms}"] = blend.sounding_ms(xi[..., 0])
    return out


def mae_by_length(res: list[dict], anchors, windows) -> list[float]:
    """MAE on the real kit clips per window, the trees' share by sounding length from `anchors`."""
    from encoder.blend import share_by_length

    true = np.concatenate([r["true"][r["real"]] for r in res])
    out = []
    for ms in windows:
        w = np.concatenate([share_by_length(r[f"sounding {ms}"][r["real"]], anchors) for r in res])[:, None]
        net, trees = (np.concatenate([r[ms][k][r["real"]] for r in res]) for k in (0, 1))
        out.append(float(np.abs((1 - w) * net + w * trees - true).mean()))
    return out


def ranked(res: list[dict], choices, windows) -> list[tuple[float, tuple, list[float]]]:
    """(mean MAE over `windows`, anchors, MAE per window) of every choice of anchors, best first."""
    return sorted((float(np.mean(m)), a, m) for a, m in ((a, mae_by_length(res, a, windows)) for a in choices))


def table(title: str, rows: list, windows, last: str) -> list[str]:
    """Markdown lines: `title`, the 5 best rows, and `last` naming the best."""
    out = ["", title, "", "| shares | " + " | ".join(f"{ms} ms" for ms in windows) + " | mean |",
           "|---|" + "---|" * (len(windows) + 1)]
    for mean, anchors, maes in rows[:5]:
        out.append("| " + ",".join(f"{ms:g}:{w:.1f}" for ms, w in anchors) + " | "
                   + " | ".join(f"{m:.4f}" for m in maes) + f" | {mean:.4f} |")
    return out + ["", f"{last}: " + ",".join(f"{ms:g}:{w:.1f}" for ms, w in rows[0][1]) + f" ({rows[0][0]:.4f})"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--md", type=Path)
    args = ap.parse_args(argv)
    manifest = load_manifests(args.data)
    res = [heads(run, manifest) for run in args.runs]
    lines = [f"Runs: {', '.join(map(str, args.runs))}. Validation clips only. MAE (normalised) of "
             "(1 - w) x network + w x trees, pooled over the runs.", "",
             "| clips | w | " + " | ".join(f"{ms} ms" for ms in WINDOWS) + " | mean |", "|---|---|" + "---|" * 4]
    best = {}
    for name, pick in (("real kits", lambda r: r["real"]), ("all", lambda r: np.ones(len(r["true"]), bool))):
        for w in WEIGHTS:
            maes = [np.concatenate([np.abs((1 - w) * r[ms][0] + w * r[ms][1] - r["true"])[pick(r)] for r in res]).mean()
                    for ms in WINDOWS]
            mean = float(np.mean(maes))
            best.setdefault(name, (mean, w))
            best[name] = min(best[name], (mean, w))
            lines.append(f"| {name} | {w:.1f} | " + " | ".join(f"{m:.4f}" for m in maes) + f" | {mean:.4f} |")
    lines += ["", "Lowest mean: " + "; ".join(f"{k}: w = {v[1]:.1f} ({v[0]:.4f})" for k, v in best.items())]
    grid = [tuple(zip(WINDOWS, ws)) for ws in itertools.product(WEIGHTS, repeat=len(WINDOWS))]
    rows = ranked(res, grid, WINDOWS)
    lines += table(f"Shares by sounding length (`drumtimbre blend --weight MS:W,...`), real kit clips, the 5 best of "
                   f"{len(rows)} choices:", rows, WINDOWS, "Lowest mean by sounding length")
    if all(r["short"] for r in res):
        long = rows[0][1]
        base = mae_by_length(res, long, SHORT_WINDOWS)
        grid = [tuple(zip(SHORT_ANCHORS, ws)) + long for ws in itertools.product(WEIGHTS, repeat=len(SHORT_ANCHORS))]
        short = ranked(res, grid, SHORT_WINDOWS)
        lines += table("Short windows (a forest for windows of at most 24 ms), real kit clips, the long anchors kept; "
                       "with no anchors below 25 ms: " + " / ".join(f"{m:.4f}" for m in base)
                       + f" at {' / '.join(map(str, SHORT_WINDOWS))} ms. The 5 best of {len(short)} choices:",
                       short, SHORT_WINDOWS, "Lowest mean on short windows")
    emit(lines, args.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
