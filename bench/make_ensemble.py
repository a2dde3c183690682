"""Average trained runs into one model and write it as a run folder (for `drumtimbre export`).

    .venv/bin/python bench/make_ensemble.py data/runs/logmel data/runs/logmel_os3 data/runs/logmel_wide_os3 \
        --out data/runs/default

All runs must share one split (same seed, data and --grouped): the folder gets
that split.csv, so `drumtimbre evaluate --run` judges the ensemble on the same
held-out kits.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    splits_text = {(r / "split.csv").read_text() for r in args.runs}
    if len(splits_text) != 1:
        print("make_ensemble: the runs do not share one split", file=sys.stderr)
        return 2
    import keras

    from encoder.models import custom_objects, ensemble

    members = [keras.saving.load_model(r / "model.keras", custom_objects=custom_objects(), compile=False)
               for r in args.runs]
    infos = [json.loads((r / "run.json").read_text()) for r in args.runs]
    model = ensemble(members, name="ensemble")
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "model.keras")
    for name in ("split.csv", "normalisation.json"):
        shutil.copy(args.runs[0] / name, args.out / name)
    arch = "ensemble(" + ", ".join(i["architecture"] for i in infos) + ")"
    info = {**infos[0], "architecture": arch, "members": [str(r) for r in args.runs],
            "parameters": int(model.count_params()),
            "best_val_mae": None, "member_best_val_mae": [i["best_val_mae"] for i in infos],
            "oversample": [i.get("oversample", {}) for i in infos]}
    (args.out / "run.json").write_text(json.dumps(info, indent=2))
    print(f"{arch}: {model.count_params():,} parameters -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
