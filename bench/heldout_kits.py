"""Network vs gradient-boosting baseline on real drum kits never seen in training, over several grouped splits.

For every grouped run folder given (one per split seed, same recipe), the
run's network (`model.keras`) and the baseline of `bench/baseline.py`
(refitted here on that run's training split, with the same truncation) are
judged on the run's test split.  Reported: MAE (normalised units) on the
held-out real kits (clips of the source named by --real, default
`debian.csv`) per window length, per kit, and pooled over the runs; and the
same for all test clips.  Nothing is tuned here.

    .venv/bin/python bench/heldout_kits.py --runs data/runs/aug4_s0 data/runs/aug4_s1 data/runs/aug4_s2 \
        --data data/labels/synth.csv data/labels/debian.csv data/labels/debian_aug.csv --md bench/results/heldout.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline import fit_on, run_split  # noqa: E402
from encoder import dataset  # noqa: E402
from encoder.descriptors import normalise  # noqa: E402
from encoder.evaluate import WINDOWS_MS, keras_predictor, truncate  # noqa: E402
from encoder.manifest import Manifest, load_manifests  # noqa: E402
from report import emit  # noqa: E402  (bench/report.py)


def kit_of(path: str, group: str = "") -> str:
    """A clip's kit: the folder name below the kit roots (hydrogen), 'lmms' for the LMMS samples,
    else its group (the extra kits: `soundfont/<font>/<kit>`, `sonic-pi/<family>`) or folder name."""
    parts = Path(path).parts
    if "drumkits" in parts:
        return parts[parts.index("drumkits") + 1]
    return "lmms" if "lmms" in parts else group or Path(path).parent.name


def _run_info(run: Path) -> dict:
    path = run / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def predictions(run: Path, manifest: Manifest, windows_ms=WINDOWS_MS) -> dict:
    """The network's and the baseline's (refitted on `run`'s training split) predictions, normalised, on `run`'s
    test split: {"test": the test Manifest, "true": its normalised labels, ms: (network, baseline) per window}."""
    train, test = run_split(run, manifest)
    cache = run.parent / ".cache"
    gb = fit_on(train, cache, seed=0, progress=False)
    nn = keras_predictor(run / "model.keras")
    x = dataset.load_audio(test, cache_dir=cache, progress=False)
    out = {"test": test, "true": normalise(test.labels())}
    for ms in windows_ms:
        xi = x if ms >= 1000 else truncate(x, ms)
        out[ms] = (nn(xi), gb(xi))
    return out


def judge(run: Path, manifest: Manifest, real: str) -> dict:
    """Errors |pred - true| (normalised) of the network and the baseline on `run`'s test split, per window."""
    pred = predictions(run, manifest)
    test, true = pred["test"], pred["true"]
    err = {"nn": {ms: np.abs(pred[ms][0] - true) for ms in WINDOWS_MS},
           "gb": {ms: np.abs(pred[ms][1] - true) for ms in WINDOWS_MS}}
    is_real = np.array([Path(r.source).name == real for r in test.records])
    kits = np.array([kit_of(r.path, r.group) if Path(r.source).name == real else "" for r in test.records])
    return {"run": str(run), "err": err, "real": is_real, "kits": kits}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", type=Path, required=True, help="grouped run folders (model.keras, split.csv)")
    p.add_argument("--data", nargs="+", required=True, help="the label CSVs the runs were trained on")
    p.add_argument("--real", default="debian.csv", help="file name of the source holding the real kits")
    p.add_argument("--md", type=Path, default=None, help="write the markdown tables here")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    manifest = load_manifests(args.data)
    results = [judge(run, manifest, args.real) for run in args.runs]

    lines = [f"Runs: {', '.join(str(r) for r in args.runs)}. MAE in normalised units (0-1); "
             f"GB = `bench/baseline.py` refitted on each run's training split."
             + (" 'network' = each run's model.keras, here a blend of the network with its trees (drumtimbre blend)."
                if all("blend" in _run_info(r) for r in args.runs) else ""), "",
             "| split | model | clips | " + " | ".join(f"real kits @{ms} ms" for ms in WINDOWS_MS)
             + " | all test clips @1000 ms | all @25 ms |",
             "|" + "---|" * (len(WINDOWS_MS) + 5)]
    summary: dict = {}

    def row(name: str, who: str, res: list[dict]) -> None:
        real = np.concatenate([r["real"] for r in res])
        cells = []
        for ms in WINDOWS_MS:
            e = np.concatenate([r["err"][who][ms] for r in res])
            cells.append(float(e[real].mean()))
        e_all = np.concatenate([r["err"][who][1000] for r in res])
        e_25 = np.concatenate([r["err"][who][25] for r in res])
        summary.setdefault(name, {})[who] = {"real_by_window": dict(zip(map(str, WINDOWS_MS), cells)),
                                             "all": float(e_all.mean()), "all_25": float(e_25.mean()),
                                             "real_clips": int(real.sum())}
        label = "network" if who == "nn" else "GB baseline"
        lines.append(f"| {name} | {label} | {int(real.sum())} | " + " | ".join(f"{c:.4f}" for c in cells)
                     + f" | {e_all.mean():.4f} | {e_25.mean():.4f} |")

    for r in results:
        for who in ("nn", "gb"):
            row(Path(r["run"]).name, who, [r])
    if len(results) > 1:
        for who in ("nn", "gb"):
            row("pooled", who, results)

    from encoder.descriptors import DESCRIPTORS, points_per_unit

    real = np.concatenate([r["real"] for r in results])
    e_nn = np.concatenate([r["err"]["nn"][1000] for r in results])[real]
    e_gb = np.concatenate([r["err"]["gb"][1000] for r in results])[real]
    pts = np.asarray(points_per_unit(), dtype=float)
    lines += ["", f"Per descriptor, held-out real kits of all runs ({int(real.sum())} clips), full window (1 s): "
              "MAE normalised (AudioCommons points)", "",
              "| descriptor | network | GB baseline |", "|---|---|---|"]
    for k, name in enumerate(DESCRIPTORS):
        lines.append(f"| {name} | {e_nn[:, k].mean():.4f} ({e_nn[:, k].mean() * pts[k]:.2f}) | "
                     f"{e_gb[:, k].mean():.4f} ({e_gb[:, k].mean() * pts[k]:.2f}) |")
    lines.append(f"| **mean** | **{e_nn.mean():.4f}** ({(e_nn * pts).mean():.2f}) | "
                 f"**{e_gb.mean():.4f}** ({(e_gb * pts).mean():.2f}) |")
    summary["per_descriptor_real_1000ms"] = {
        name: {"nn": float(e_nn[:, k].mean()), "gb": float(e_gb[:, k].mean())} for k, name in enumerate(DESCRIPTORS)}

    lines += ["", "Per held-out real kit, full window (1 s):", "",
              "| split | kit | clips | network | GB baseline | better |", "|---|---|---|---|---|---|"]
    wins = 0
    total = 0
    for r in results:
        for kit in sorted(set(r["kits"]) - {""}):
            m = r["kits"] == kit
            a, b = r["err"]["nn"][1000][m].mean(), r["err"]["gb"][1000][m].mean()
            wins += a < b
            total += 1
            lines.append(f"| {Path(r['run']).name} | {kit} | {int(m.sum())} | {a:.4f} | {b:.4f} | "
                         f"{'network' if a < b else 'GB'} |")
    lines.append(f"\nThe network is better on {wins} of {total} held-out kits at 1 s.")
    emit(lines, args.md)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
