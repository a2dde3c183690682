"""Loader for the Freesound One-Shot Percussive Sounds dataset, in its own layout.

    ROOT/analysis/<k>/<id>_analysis.json
    ROOT/one_shot_percussive_sounds/<k>/<id>.wav

Records whose descriptors are NaN or missing (8 in the real dataset) are
excluded and counted, never turned into 0 as the original study did; so are
analyses whose audio file is missing.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from encoder.descriptors import DESCRIPTORS
from encoder.manifest import Manifest, Record

log = logging.getLogger(__name__)

ANALYSIS_DIR = "analysis"
AUDIO_DIR = "one_shot_percussive_sounds"
SUFFIX = "_analysis.json"


def is_freesound_root(root: str | Path) -> bool:
    """True if `root` has the dataset's analysis/ folder."""
    return (Path(root) / ANALYSIS_DIR).is_dir()


def read_analysis(path: str | Path) -> tuple[tuple[float, ...] | None, str]:
    """The 7 descriptors of one analysis JSON -> (values, '') or (None, reason)."""
    try:
        with open(path) as f:
            data = json.load(f)  # Python's json accepts the NaN literals the dataset holds
    except (OSError, ValueError) as exc:
        return None, f"unreadable analysis ({exc.__class__.__name__})"
    if not isinstance(data, dict):  # valid JSON, but `null`, a list, a number: no descriptors to read
        return None, "unreadable analysis (not a JSON object)"
    missing = [n for n in DESCRIPTORS if n not in data or data[n] is None]
    if missing:
        return None, "missing descriptor"
    try:
        values = tuple(float(data[n]) for n in DESCRIPTORS)
    except (TypeError, ValueError):
        return None, "non-numeric descriptor"
    if not all(math.isfinite(v) for v in values):
        return None, "NaN descriptor"
    return values, ""


def load_freesound(root: str | Path) -> Manifest:
    """All usable records of a dataset root -> Manifest (group = 'freesound/<id>': each sound its own group, since
    the dataset says nothing of kits or uploaders, and its numbered folders are batches of 2,500 sounds, not kits:
    grouped by folder, a grouped split of the real dataset came out 49/27/24 % instead of 64/16/20).

    Exclusions are counted in `Manifest.excluded` and logged at WARNING level.
    """
    root = Path(root)
    if not is_freesound_root(root):
        raise FileNotFoundError(f"{root}: no {ANALYSIS_DIR}/ folder, not a Freesound One-Shot dataset root")
    manifest = Manifest()
    analyses = sorted((root / ANALYSIS_DIR).glob(f"*/*{SUFFIX}"))
    for analysis in analyses:
        folder = analysis.parent.name
        sound_id = analysis.name[: -len(SUFFIX)]
        values, reason = read_analysis(analysis)
        if values is None:
            manifest.exclude(reason)
            if reason.startswith("unreadable"):  # a file at fault, named (the dataset's own NaN records are not)
                manifest.left_out.append(f"{analysis}: {reason}")
            log.debug("excluded %s: %s", analysis, reason)
            continue
        wav = root / AUDIO_DIR / folder / f"{sound_id}.wav"
        if not wav.is_file():
            manifest.exclude("audio file missing")
            continue
        manifest.records.append(Record(str(wav), values, f"freesound/{sound_id}", "freesound"))
    analysed = {(a.parent.name, a.name[: -len(SUFFIX)]) for a in analyses}
    unanalysed = sum(1 for w in (root / AUDIO_DIR).glob("*/*.wav") if (w.parent.name, w.stem) not in analysed)
    if unanalysed:  # sounds the dataset ships without an analysis: no labels, so no record, but counted
        manifest.exclude("analysis file missing", unanalysed)
    if manifest.excluded:
        log.warning("%s: %d records loaded, excluded %s", root, len(manifest.records),
                    ", ".join(f"{n} ({reason})" for reason, n in sorted(manifest.excluded.items())))
    return manifest
