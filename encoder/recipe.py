"""The training-data recipe: synthesised drums + Debian's drum kits, labelled.

Everything here can be rebuilt on a fresh machine with the Debian packages
`hydrogen-drumkits`, `hydrogen-data` and `lmms-common` installed:

- `render_synth(out, n)` writes `n` synth clips as 16-bit FLAC at 16 kHz to
  `<out>/audio/synth/<family>/<batch>/<family>_<seed>.flac`.  Families take
  turns (clip i is family i mod 8, seed i // 8) and every `GROUP_SIZE` clips
  of a family share a batch folder: the folder is the clip's group, a
  "synthetic kit" that grouped splits keep together (e.g. synth/snare/03).
- `debian_kit_files()` lists the kits' one-shots (group = kit folder).
- `build(...)` renders and labels both into `<out>/labels/synth.csv` and
  `<out>/labels/debian.csv` with `encoder.label_run.label_to_csv`, resumably:
  run it again with a larger `n` and only the new clips are labelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from encoder.audio import find_audio
from encoder.descriptors import SAMPLE_RATE
from encoder.synth import FAMILIES, render

GROUP_SIZE = 25
"""Synth clips of one family per group (batch folder)."""
DEBIAN_KIT_ROOTS = (Path("/usr/share/hydrogen/data/drumkits"), Path("/usr/share/lmms/samples/drums"))


@dataclass
class BuildSummary:
    """Files and label CSVs a build produced."""

    synth_files: int
    debian_files: int
    synth_csv: Path
    debian_csv: Path | None


def synth_path(out: Path, index: int) -> Path:
    """Where synth clip number `index` (0-based) lives under the data folder `out`."""
    family = FAMILIES[index % len(FAMILIES)]
    seed = index // len(FAMILIES)
    return out / "audio" / "synth" / family / f"{seed // GROUP_SIZE:02d}" / f"{family}_{seed:05d}.flac"


def render_synth(out: Path, n: int, progress: bool = True) -> list[Path]:
    """Render synth clips 0..n-1 (skipping files already there) -> their paths."""
    from tqdm import tqdm

    paths = []
    for i in tqdm(range(n), desc="synthesising", unit="clip", disable=not progress, dynamic_ncols=True):
        p = synth_path(out, i)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            family = FAMILIES[i % len(FAMILIES)]
            tmp = p.with_name(p.stem + ".tmp.flac")
            sf.write(tmp, render(family, i // len(FAMILIES)), SAMPLE_RATE, subtype="PCM_16")
            tmp.replace(p)
        paths.append(p)
    return paths


def debian_kit_files(roots: tuple[Path, ...] = DEBIAN_KIT_ROOTS) -> list[Path]:
    """One-shots of the installed Debian kits (hydrogen-drumkits, hydrogen-data, lmms-common)."""
    present = [r for r in roots if r.is_dir()]
    return find_audio(present) if present else []


def build(out: Path = Path("data"), n_synth: int = 2400, workers: int = 1, debian: bool = True,
          progress: bool = True) -> BuildSummary:
    """Render and label the whole recipe under `out` (resumable)."""
    from encoder.label_run import label_to_csv

    out = Path(out)
    labels = out / "labels"
    synth_files = render_synth(out, n_synth, progress)
    label_to_csv(synth_files, labels / "synth.csv", workers=workers, resume=True, progress=progress)
    debian_csv = None
    deb = debian_kit_files() if debian else []
    if deb:
        debian_csv = labels / "debian.csv"
        label_to_csv(deb, debian_csv, workers=workers, resume=True, progress=progress)
    return BuildSummary(len(synth_files), len(deb), labels / "synth.csv", debian_csv)
