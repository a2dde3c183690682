"""The onset detector's candidate classifier: gradient-boosted trees stored as JSON, evaluated with numpy.

The detector (realtime.onsets) takes every detection-function peak above a low
threshold (`OnsetParams.candidate_offset`) as a *candidate* and describes it by
the features named in `FEATURES`: detection-function values and their ratios,
level changes in dB, times in ms, how many candidates came in the last half
second, band rises and log magnitudes over four frequency ranges (after the
detector's level control, so a quiet input reads as a loud one; the ranges are
in Hz, so the features mean about the same at any sample rate).  A candidate
that passes the fixed thresholds is an onset anyway; for one under them that
adds energy, the trees give the probability that it is a hit, and the detector
keeps it above `OnsetParams.accept_prob`.

The trees were fitted by `scripts/fit_onset_trees.py` on candidates of rendered
loops with exact ground truth, of one-shots alone and of white noise
(BENCHMARKS.md, "A classifier for candidate peaks", session 23's "Dense
hats rescued" and session 24's "Peaks of a hit already found"); the file holds the flat arrays of encoder.trees.Forest (no pickle) and
the feature names, which must match `FEATURES`.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from encoder.trees import Forest, predict

TREES_PATH = Path(__file__).with_name("onset_trees.json")
"""The shipped classifier."""
ENV_VAR = "DRUMTIMBRE_ONSET_TREES"
"""An environment variable naming another classifier file (one fitted by scripts/fit_onset_trees.py)."""

FEATURES = (
    "v",             # detection-function peak
    "median",        # moving median of the detection function before it
    "mask",          # masking threshold left by earlier peaks
    "v_over_thr",    # v / (threshold_ratio * median + threshold_offset)
    "df_m1",         # detection function 1, 2 and 4 hops before the peak, and 1 after, over v
    "df_m2",
    "df_m4",
    "df_p1",
    "past_max",      # largest detection function 8-53 ms before the peak, over v
    "energy_db",     # energy of the hop after the peak frame re the hop before the frame, dB
    "treble_db",     # the same for their first differences, dB
    "level_db",      # the peak frame's RMS re the recent peak frame RMS (the level control's follower), dB
    "rise_db",       # biggest rise of the sample envelope in the backtracking span, dB
    "attack_ms",     # from the attack start to the end of the peak frame, ms
    "since_ms",      # from the previous candidate's attack start (at most 1000), ms
    "v_re_last",     # v over the previous candidate's v
    "bands_up",      # share of bands rising by more than 0.1 (log units)
    "top3",          # mean rise of the 3 most-rising bands
    "fixed_500",     # candidates above the fixed thresholds in the 0.5 s before the attack
    "under_500",     # candidates under them in that time
    "since_fixed_ms",  # from the last candidate above the fixed thresholds in those 0.5 s, ms (1000: none)
    "flux_low",      # mean rise of the bands centred below 300 Hz, 300-2000, 2000-6000, above 6000 Hz
    "flux_mid",
    "flux_high",
    "flux_air",
    "mag_low",       # the peak frame's mean log magnitude in those ranges
    "mag_mid",
    "mag_high",
    "mag_air",
    "dmag_low",      # ... minus that of the frame 16 ms before
    "dmag_mid",
    "dmag_high",
    "dmag_air",
)
RANGES_HZ = (300.0, 2000.0, 6000.0)
"""Edges of the four frequency ranges of the flux_* / mag_* / dmag_* features, Hz."""
BACK_S = 0.016
"""The dmag_* features compare with the frame this long before the peak frame, s."""


ACCEPT_ALL = Forest(feature=np.zeros(1, np.int32), threshold=np.zeros(1, np.float32),
                    children=np.zeros((1, 2), np.int32), value=np.zeros(1, np.float32),
                    roots=np.zeros((1, 1), np.int32), base=np.full(1, 20.0, np.float32), depth=0)
"""A classifier that accepts every candidate (probability 1): for collecting them (realtime.onsets.collect_candidates,
used by scripts/fit_onset_trees.py and bench/onset_ceiling.py)."""


def trees_source(on: bool = True) -> str:
    """Which trees a detector runs (`on`: OnsetParams.trees), in words, for benchmark records."""
    if not on:
        return "the trees off"
    named = os.environ.get(ENV_VAR)
    return f"the trees in {named} ({ENV_VAR})" if named else f"the shipped trees ({TREES_PATH.name})"


def forest_to_json(forest: Forest, path: str | Path, meta: dict | None = None) -> None:
    """Write a Forest (and the feature names, with `meta`) as JSON."""
    doc = {"features": list(FEATURES), "meta": meta or {}, "depth": int(forest.depth),
           "feature": forest.feature.tolist(), "threshold": forest.threshold.tolist(),
           "children": forest.children.tolist(), "value": forest.value.tolist(),
           "roots": forest.roots.tolist(), "base": forest.base.tolist()}
    Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def load_forest(path: str | Path | None = None) -> Forest:
    """The classifier in `path`; None: the file named by the environment variable DRUMTIMBRE_ONSET_TREES, else
    the shipped one.  ValueError naming the file if it is missing or not one for these features."""
    if path is None:
        path = os.environ.get(ENV_VAR) or TREES_PATH
    return _load(Path(path).resolve())


@lru_cache(maxsize=4)
def _load(path: Path) -> Forest:
    try:
        doc = json.loads(path.read_text())
        names = tuple(doc["features"])
        forest = Forest(feature=np.array(doc["feature"], np.int32), threshold=np.array(doc["threshold"], np.float32),
                        children=np.array(doc["children"], np.int32).reshape(-1, 2),
                        value=np.array(doc["value"], np.float32), roots=np.array(doc["roots"], np.int32).reshape(1, -1),
                        base=np.array(doc["base"], np.float32), depth=int(doc["depth"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        hint = f" (named by {ENV_VAR})" if os.environ.get(ENV_VAR) else ""
        raise ValueError(f"{path}{hint}: not an onset classifier file ({e})") from e
    if names != FEATURES:
        raise ValueError(f"{path}: made for other features ({len(names)} named) than this detector's "
                         f"{len(FEATURES)}; refit it with scripts/fit_onset_trees.py")
    if forest.features > len(FEATURES):
        raise ValueError(f"{path}: a tree tests feature {forest.features - 1}; there are {len(FEATURES)}")
    return forest


def probability(forest: Forest, features: np.ndarray) -> float:
    """P(hit) of one candidate (0-1) from its `FEATURES` row."""
    logit = float(predict(forest, features.reshape(1, -1))[0, 0])
    return 1.0 / (1.0 + np.exp(-logit))
