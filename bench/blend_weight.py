"""Choose the blend's weight on validation clips: MAE of (1 - w) x network + w x trees for w = 0, 0.1, ..., 1.

For every blend run folder given (`drumtimbre blend` of a grouped run), the
network's and the trees' outputs on the run's *validation* split (never its
test split) are mixed with each weight, at windows of 25, 100 and 1000 ms
after the onset; reported per window and as the mean over the three, pooled
over the runs, for the real kit clips (debian.csv, extra.csv) and for all
validation clips.  Then the same for a share that depends on the window's
sounding length (`encoder.blend.share_by_length`): every choice of shares
0, 0.1, ..., 1 at 25, 100 and 1000 ms.  The weight to ship is the one with
the lowest mean on the real kit clips.

    .venv/bin/python bench/blend_weight.py --runs data/runs/extra2_s0_blend data/runs/extra2_s1_blend \
        data/runs/extra2_s2_blend --data $D --md bench/results/blend_weight.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder import dataset, splits  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.evaluate import truncate  # noqa: E402
from encoder.manifest import Manifest, load_manifests  # noqa: E402

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
WINDOWS = (25, 100, 1000)
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
    stub = keras.Model(model.input, [found.network, model.get_layer("trees").output])
    saved = splits.load(run / "split.csv")
    val = Manifest([r for r in manifest.records if saved.get(r.path) == "validation"])
    x = dataset.load_audio(val, cache_dir=run.parent / ".cache", progress=False)
    out = {"true": normalise(val.labels()), "real": np.array([Path(r.source).name in REAL for r in val.records])}
    for ms in WINDOWS:
        xi = (x if ms >= 1000 else truncate(x, ms))[..., None]
        parts = [stub(xi[i:i + 256], training=False) for i in range(0, len(xi), 256)]
        out[ms] = tuple(np.concatenate([np.asarray(p[k]) for p in parts]).astype(np.float64) for k in (0, 1))
        out[f"sounding {ms}"] = blend.sounding_ms(xi[..., 0])
    return out


def by_length(res: list[dict]) -> list[tuple[float, tuple, list[float]]]:
    """(mean MAE over WINDOWS, anchors, MAE per window) of every share-by-length choice on the real kit clips,
    best first."""
    from encoder.blend import share_by_length

    anchors_ms = WINDOWS
    # the share is linear in the anchors' shares: basis[ms][k] = the clips' share with anchor k at 1, the rest 0
    basis = {ms: [np.concatenate([share_by_length(r[f"sounding {ms}"][r["real"]],
                                                  [(a, float(a == b)) for a in anchors_ms]) for r in res])
                  for b in anchors_ms] for ms in WINDOWS}
    heads = {ms: [np.concatenate([r[ms][k][r["real"]] for r in res]) for k in (0, 1)] for ms in WINDOWS}
    true = np.concatenate([r["true"][r["real"]] for r in res])
    rows = []
    for shares in np.ndindex(*(len(WEIGHTS),) * len(anchors_ms)):
        ws = [WEIGHTS[i] for i in shares]
        maes = []
        for ms in WINDOWS:
            w = sum(wk * bk for wk, bk in zip(ws, basis[ms]))[:, None]
            net, trees = heads[ms]
            maes.append(float(np.abs((1 - w) * net + w * trees - true).mean()))
        rows.append((float(np.mean(maes)), tuple(zip(anchors_ms, ws)), maes))
    return sorted(rows)


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
    ranked = by_length(res)
    lines += ["", "Shares by sounding length (`drumtimbre blend --weight MS:W,...`), real kit clips, the 5 best of "
              f"{len(ranked)} choices:", "",
              "| shares | " + " | ".join(f"{ms} ms" for ms in WINDOWS) + " | mean |", "|---|" + "---|" * 4]
    for mean, anchors, maes in ranked[:5]:
        lines.append("| " + ",".join(f"{ms}:{w:.1f}" for ms, w in anchors) + " | "
                     + " | ".join(f"{m:.4f}" for m in maes) + f" | {mean:.4f} |")
    lines += ["", "Lowest mean by sounding length: " + ",".join(f"{ms}:{w:.1f}" for ms, w in ranked[0][1])
              + f" ({ranked[0][0]:.4f})"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
