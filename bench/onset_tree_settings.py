"""Fit the onset trees under other settings, on one set of candidates, to score with bench/onset_eval.py.

scripts/fit_onset_trees.py renders its loops and collects their candidates
(about 2 minutes without the held-out, other and Sonic Pi kits); this does that
once, then fits one tree file per setting: `NAME=JSON`, the JSON changing
scikit-learn's HistGradientBoostingClassifier arguments from the fit script's
TREE_PARAMS, plus `group_weight` W (each candidate weighted by its kit group's
count to the power -W: 1 weighs every group alike, 0 is the fit script's
weighting).  Each file is then scored on kits it never saw:

    .venv/bin/python bench/onset_tree_settings.py --out-dir /tmp/trees base='{}' d7='{"max_depth": 7}'
    DRUMTIMBRE_ONSET_TREES=/tmp/trees/d7.json .venv/bin/python bench/onset_eval.py --seeds 1 --seconds 6 \\
        --block 128 --no-aubio --kits data/audio/soundfonts/Red_Zeppelin_4_LV2/Red_Zeppelin_4pc \\
        data/audio/freepats/Drum_000

`base='{}'` writes what the fit script writes with the same --exclude and `--no-cv` (the same arrays).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_onset_trees as fit  # noqa: E402
from encoder.trees import from_sklearn  # noqa: E402
from realtime.onset_trees import forest_to_json  # noqa: E402
from realtime.onsets import OnsetParams  # noqa: E402


def group_weights(groups: np.ndarray, power: float) -> np.ndarray | None:
    """Per-candidate weights: the kit group's candidate count to the power -`power`, scaled to mean 1; None for 0."""
    if power == 0:
        return None
    names, counts = np.unique(groups, return_counts=True)
    per = dict(zip(names.tolist(), counts.tolist()))
    w = np.array([per[g] for g in groups.tolist()], float) ** -power
    return w * (w.size / w.sum())


def parse_setting(text: str) -> tuple[str, dict]:
    """'NAME=JSON' -> (name, the JSON object)."""
    name, sep, js = text.partition("=")
    if not sep or not name:
        raise ValueError(f"{text!r}: expected NAME=JSON, e.g. d7='{{\"max_depth\": 7}}'")
    changes = json.loads(js)
    if not isinstance(changes, dict):
        raise ValueError(f"{text!r}: the JSON must be an object")
    return name, changes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="+", metavar="NAME=JSON", help="tree settings to fit, one file each")
    ap.add_argument("--out-dir", type=Path, required=True, help="where NAME.json files go")
    ap.add_argument("--exclude", nargs="+", default=["held-out", "other", "sonic_pi"], metavar="SET",
                    help="kit sets left out of the fit (default: held-out other sonic_pi)")
    args = ap.parse_args(argv)
    try:
        settings = [parse_setting(s) for s in args.settings]
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        ap.error(str(e))
    sets = fit.kit_sets()
    kits = [gk for name, pairs in sets.items() if name not in args.exclude for gk in pairs]
    jobs = fit.make_jobs(kits, fit.SEEDS, fit.DENSE_SEEDS, True, OnsetParams(), fit.NOISE_SEEDS)  # the fit's defaults
    t0 = time.time()
    x, y, groups = fit.collect(jobs)
    print(f"{len(jobs)} jobs, {y.size} candidates ({int(y.sum())} hits) in {time.time() - t0:.0f} s")
    from sklearn.ensemble import HistGradientBoostingClassifier

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, changes in settings:
        changes = dict(changes)
        power = float(changes.pop("group_weight", 0.0))
        params = {**fit.TREE_PARAMS, **changes}
        model = HistGradientBoostingClassifier(**params, random_state=0).fit(
            x, y, sample_weight=group_weights(groups, power))
        path = args.out_dir / f"{name}.json"
        meta = {"fitted_by": "bench/onset_tree_settings.py", "excluded": args.exclude, "params": params,
                "group_weight": power, "candidates": int(y.size), "hits": int(y.sum())}
        forest_to_json(from_sklearn([model]), path, meta)
        print(f"{name}: {params}, group_weight {power} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
