"""`drumtimbre blend RUN_DIR --data MANIFEST... --out RUN_DIR [--weight W | MS:W,...]`: add trees to a run."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from encoder.blend import Anchors, check_anchors, describe_weight

DEFAULT_WEIGHT = ((8.0, 1.0), (16.0, 0.9), (25.0, 0.1), (100.0, 0.3), (1000.0, 0.5))
"""The trees' share by the window's sounding length (ms, share): chosen on the validation clips of the shipped
recipe's three grouped runs (bench/blend_weight.py: the lowest mean MAE over 25, 100 and 1000 ms windows on their
real kit clips for the anchors from 25 ms, then over 8, 13 and 18 ms for those below, where the short forest
serves; BENCHMARKS.md), never on their test clips."""
DEFAULT_TREES, DEFAULT_LEARNING_RATE = 80, 0.2
"""Trees per descriptor and their learning rate: the smallest forest that kept the accuracy of 150 trees at 0.1 on
one judging run's validation clips.  160 trees at 0.1 read better on the three runs' validation clips (0.0312
against 0.0317 at 1 s) but cost the shipped model about 0.03 ms more a hit (BENCHMARKS.md)."""
DEFAULT_SHORT_TREES = 80
"""Trees per descriptor of the forest for windows sounding at most 24 ms (0: none)."""
SHORT_CUT_S = (0.005, 0.025)
"""The short forest learns from each training clip cut to a log-uniform window this long (s)."""
COPIED = ("split.csv", "normalisation.json", "history.csv", "loss.png")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a trained log-mel run folder (model.keras, split.csv)")
    p.add_argument("--data", nargs="+", required=True, metavar="MANIFEST", help="the label CSVs the run was trained on")
    p.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder to write (the blend)")
    p.add_argument("--weight", default=None, metavar="W | MS:W,...",
                   help="the trees' share of the output, 0-1, or shares by the window's sounding length, "
                        "linear in log(ms) between them (default "
                        + ",".join(f"{ms:g}:{w:g}" for ms, w in DEFAULT_WEIGHT) + ")")
    p.add_argument("--trees", type=int, default=DEFAULT_TREES,
                   help=f"most trees per descriptor, default {DEFAULT_TREES} (early stopping may use fewer)")
    p.add_argument("--short-trees", type=int, default=DEFAULT_SHORT_TREES,
                   help="trees per descriptor of a second forest for windows of at most 24 ms (early estimates "
                        f"from less audio than the network trained on), default {DEFAULT_SHORT_TREES}; 0: none")
    p.add_argument("--max-depth", type=int, default=None, help="most levels a tree (default: no limit; 31 leaves)")
    p.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE,
                   help=f"the trees' learning rate (shrinkage), default {DEFAULT_LEARNING_RATE}")
    p.add_argument("--seed", type=int, default=0, help="seed of the trees and of the truncated copies")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a RUN_DIR that already holds a run (its files are replaced)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    def fail(msg: str) -> int:
        print(f"drumtimbre blend: {msg}", file=sys.stderr)
        return 1

    try:
        weight = DEFAULT_WEIGHT if args.weight is None else parse_weight(args.weight)
    except ValueError:
        return fail(f"--weight {args.weight}: expected a share 0-1 or MS:SHARE pairs (ms ascending, shares 0-1), "
                    "e.g. 25:0.1,1000:0.5")
    for name in ("model.keras", "split.csv", "run.json"):
        if not (args.run / name).is_file():
            return fail(f"{args.run}: run folder has no {name}")
    if args.out.resolve() == args.run.resolve():
        return fail("--out must be a new folder, not the run itself")
    from encoder.out_path import run_folder_problem

    problem = run_folder_problem(args.out, args.overwrite)
    if problem:
        return fail(problem)
    try:
        result = blend_run(args.run, args.data, args.out, weight, args.seed, progress=not args.no_progress,
                           max_trees=args.trees, learning_rate=args.learning_rate,
                           max_depth=args.max_depth, short_trees=args.short_trees)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    b = result["blend"]
    print(f"wrote {args.out / 'model.keras'}: trees per descriptor {b['trees_per_descriptor']} (depth {b['depth']}), "
          f"fitted on {b['training_clips']} clips in {b['fit_seconds']:.0f} s, weight {describe_weight(weight)}")
    if "short" in b:
        print(f"short windows (<= 24 ms): trees per descriptor {b['short']['trees_per_descriptor']} "
              f"(depth {b['short']['depth']}), fitted in {b['short']['fit_seconds']:.0f} s")
    for k, v in b.get("validation_mae", {}).items():
        print(f"validation MAE {k}: network {v['network']:.4f}, trees {v['trees']:.4f}, blend {v['blend']:.4f}")
    return 0


def _forest_info(fit) -> dict:
    """run.json's entries for one fitted forest (encoder.blend.ForestFit)."""
    return {"trees_per_descriptor": fit.iterations, "depth": fit.forest.depth, "nodes": int(len(fit.forest.value)),
            "fit_seconds": round(fit.seconds, 1)}


def parse_weight(text: str) -> float | Anchors:
    """'0.3' -> 0.3; '25:0.1,1000:0.5' -> ((25.0, 0.1), (1000.0, 0.5)); ValueError otherwise."""
    if ":" not in text:
        w = float(text)
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"weight {text}: expected 0-1")
        return w
    return check_anchors([pair.split(":") for pair in text.split(",")])


def blend_run(run: Path, data: list[str], out: Path, weight: float | Anchors = DEFAULT_WEIGHT, seed: int = 0,
              progress: bool = True, max_trees: int = DEFAULT_TREES, learning_rate: float = DEFAULT_LEARNING_RATE,
              max_depth: int | None = None, short_trees: int = DEFAULT_SHORT_TREES) -> dict:
    """Fit the trees on `run`'s training clips (each plus one copy cut to a log-uniform 25-1000 ms window),
    write the blend as a run folder `out`; -> its run.json (with a "blend" entry).  `weight`: the trees'
    share, or its anchors by sounding length ((ms, share), ...); with anchors and `short_trees` > 0, a second
    forest, fitted on the training clips cut to 5-25 ms, serves windows sounding at most 24 ms."""
    import numpy as np

    from encoder import blend, dataset, splits
    from encoder.descriptors import normalise
    from encoder.evaluate import truncate
    from export.keras_to_onnx import load_keras_model

    net = load_keras_model(run / "model.keras")
    if blend.parts(net) is not None:
        raise ValueError(f"{run}: already a blend")
    manifest = dataset.load_readable(data, "blend")
    part = splits.of_run(manifest, run, "blend")
    if not len(part["train"]):
        raise ValueError(f"{run}: none of the --data clips is in the run's training split")
    cache = run.parent / ".cache"
    train_part, x = dataset.load_usable_audio(part["train"], "blend", cache_dir=cache, progress=progress)
    if not len(train_part):
        raise ValueError(f"{run}: no clip of the run's training split could be decoded")
    y = normalise(train_part.labels())
    x2, y2 = dataset.with_truncated_copies(x, y, np.random.default_rng(seed + 2))
    feats = blend.feature_model(net)
    f = blend.compute_features(feats, x2)
    fit = blend.fit_forest(f, y2, seed, max_trees, learning_rate, max_depth)
    fixed = isinstance(weight, float | int)
    short = None
    if short_trees > 0 and not fixed:  # windows the network never trained on: each clip cut to 5-25 ms
        xs = dataset.cut_copies(x, np.random.default_rng(seed + 3), SHORT_CUT_S[0], SHORT_CUT_S[1])
        short = blend.fit_forest(blend.compute_features(feats, xs), y, seed, short_trees, learning_rate, max_depth)
    model = blend.blend_model(net, fit.forest, weight, short.forest if short else None)
    info = {"weight": float(weight) if fixed else [list(a) for a in weight], **_forest_info(fit),
            "features": int(f.shape[1]), "training_clips": int(len(f)), "seed": seed, "learning_rate": learning_rate,
            "max_depth": max_depth, "network": str(run / "model.keras")}
    if short:
        info["short"] = {**_forest_info(short), "cut_ms": [1000 * s for s in SHORT_CUT_S]}
    validation, xv = part["validation"], None
    if len(validation):
        validation, xv = dataset.load_usable_audio(validation, "blend", cache_dir=cache, progress=progress)
    info["left_out"] = dataset.left_out_of(manifest, train_part, validation)  # unreadable, then failed to decode
    if len(validation):
        from encoder import trees

        yv = normalise(validation.labels())
        info["validation_mae"] = {}
        for ms in ((8, 13) if short else ()) + (25, 100, 1000):
            xi = xv if ms >= 1000 else truncate(xv, ms)
            nn = np.asarray(net.predict(xi[..., None], batch_size=256, verbose=0), dtype=np.float64)
            fi = blend.compute_features(feats, xi)
            sounding = blend.sounding_ms(xi)
            gb = blend.trees_part(trees.predict(fit.forest, fi), trees.predict(short.forest, fi) if short else None,
                                  sounding)
            w = weight if fixed else blend.share_by_length(sounding, weight)[:, None]
            info["validation_mae"][f"{ms} ms"] = {
                "network": float(np.abs(nn - yv).mean()), "trees": float(np.abs(gb - yv).mean()),
                "blend": float(np.abs((1 - w) * nn + w * gb - yv).mean())}
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run / name).is_file():
            shutil.copy2(run / name, out / name)
    model.save(out / "model.keras")
    meta = json.loads((run / "run.json").read_text())
    meta.update({"architecture": model.name, "parameters": int(model.count_params()), "blend": info})
    (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
