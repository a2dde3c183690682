"""The training-data recipe: synthesised drums + Debian's drum kits, labelled.

Everything here can be rebuilt on a fresh machine with the Debian packages
`hydrogen-drumkits`, `hydrogen-data` and `lmms-common` installed (and, for
the extra kits, `fluid-soundfont-gm`, `timgm6mb-soundfont`, `avldrums.lv2-soundfont`, `freepats`,
`sonic-pi-samples`):

- `render_synth(out, n)` writes `n` synth clips as 16-bit FLAC at 16 kHz to
  `<out>/audio/synth/<family>/<batch>/<family>_<seed>.flac`.  Families take
  turns (clip i is family i mod 8, seed i // 8) and every `GROUP_SIZE` clips
  of a family share a batch folder: the folder is the clip's group, a
  "synthetic kit" that grouped splits keep together (e.g. synth/snare/03).
- `debian_kit_files()` lists the kits' one-shots (group = kit folder).
- `augment_kits(out, files, k)` writes `k` label-true variants of every kit
  file (`encoder.augment`: repitch, EQ, choke, drive, room, layered hits) to
  `<out>/audio/augmented/<kit>-<sha1[:6]>/` (the hash of the kit's folder path
  tells apart kits of one name); their CSV carries a `group` column naming
  the original kit, so a grouped split keeps a kit and its variants together.
- `extra_kit_files(out)` lists more real one-shots: the drum kits of General
  MIDI and drum-only SoundFonts (extracted by `encoder.soundfont`), freepats'
  drum patches (`encoder.gus_patch`) and Sonic Pi's drum and percussion
  samples, each with its group (kit, or sample family).
- `build(...)` renders and labels all of them into `<out>/labels/synth.csv`,
  `<out>/labels/debian.csv`, `<out>/labels/debian_aug.csv`, `extra.csv` and
  `extra_aug.csv` (the extra kits and their variants) with
  `encoder.label_run.label_to_csv`, resumably: run it again with a larger `n`
  and only the new clips are labelled.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from encoder.audio import find_audio
from encoder.descriptors import SAMPLE_RATE
from encoder.synth import FAMILIES, render

GROUP_SIZE = 25
"""Synth clips of one family per group (batch folder)."""
AUGMENT_VARIANTS = 4
"""Label-true variants made of every Debian kit file by default."""
DEBIAN_KIT_ROOTS = (Path("/usr/share/hydrogen/data/drumkits"), Path("/usr/share/lmms/samples/drums"))
SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/TimGM6mb.sf2"))
"""General MIDI SoundFonts whose drum kits are extracted (Debian: fluid-soundfont-gm, timgm6mb-soundfont)."""
DRUM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"),)
"""Drum-only SoundFonts, every preset a kit (Debian: avldrums.lv2-soundfont; its other kit, Black Pearl,
is the AVL recording already among the Hydrogen kits as "The Black Pearl 1.0", so it is left out)."""
FREEPATS_DRUMS = Path("/usr/share/midi/freepats/Drum_000")
"""Debian's freepats GUS drum patches (`encoder.gus_patch`)."""
SONIC_PI_SAMPLES = Path("/usr/share/sonic-pi/samples")
"""Debian's sonic-pi-samples; its percussive one-shots are the files with the prefixes below."""
SONIC_PI_PREFIXES = ("bd", "drum", "elec", "perc", "sn", "tabla")


@dataclass
class BuildSummary:
    """Files and label CSVs a build produced."""

    synth_files: int
    debian_files: int
    synth_csv: Path
    debian_csv: Path | None
    augmented_files: int = 0
    augmented_csv: Path | None = None
    extra_files: int = 0
    extra_csv: Path | None = None
    extra_augmented_files: int = 0
    extra_augmented_csv: Path | None = None


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


def extra_kit_files(out: Path, soundfonts: tuple[Path, ...] = SOUNDFONTS,
                    sonic_pi: Path = SONIC_PI_SAMPLES, drum_soundfonts: tuple[Path, ...] = DRUM_SOUNDFONTS,
                    freepats: Path = FREEPATS_DRUMS) -> dict[Path, str]:
    """More real one-shots, where their Debian packages are installed -> {file: group}.

    The drum-kit recordings of General MIDI and drum-only SoundFonts (`encoder.soundfont`,
    extracted to `<out>/audio/soundfonts/<font>/<kit>/`; group `soundfont/<font>/<kit>`), the
    freepats drum patches (`encoder.gus_patch`, to `<out>/audio/freepats/Drum_000/`; group
    `freepats/Drum_000`) and Sonic Pi's drum and percussion samples (group `sonic-pi/<family>`, the
    file-name prefix: bd, sn, tabla, ...).  Group names do not depend on `out`, so neither do
    grouped splits.
    """
    from encoder import gus_patch
    from encoder.soundfont import extract

    files: dict[Path, str] = {}
    for fonts, every in ((soundfonts, False), (drum_soundfonts, True)):
        for font in fonts:
            if font.is_file():
                for f in extract(font, out / "audio" / "soundfonts", every_preset=every):
                    files[f] = f"soundfont/{f.parent.parent.name}/{f.parent.name}"
    if freepats.is_dir():
        for f in gus_patch.extract(freepats, out / "audio" / "freepats"):
            files[f] = f"freepats/{freepats.name}"
    if sonic_pi.is_dir():
        for f in sorted(sonic_pi.glob("*.flac")):
            family = f.name.split("_", 1)[0]
            if family in SONIC_PI_PREFIXES:
                files[f] = f"sonic-pi/{family}"
    return files


def canonical(out: Path, path: Path) -> str:
    """`path` as the variants' names and seeds know it: a file under the data folder `out` as if `out` were spelled
    `data` (the default, with which the committed CSVs were built), so `--out ./data`, `--out /abs/data` or another
    folder write the same variants; a file elsewhere (the Debian kits) as given."""
    try:
        return str(Path("data") / Path(os.path.realpath(path)).relative_to(os.path.realpath(out)))
    except ValueError:
        return str(path)


def augmented_path(out: Path, original: Path, index: int) -> Path:
    """Where variant `index` of kit file `original` lives under the data folder `out` (`encoder.splits.variant_of`
    reads the original back from this layout: keep them in step)."""
    kit = original.parent
    tag = hashlib.sha1(str(Path(canonical(out, original)).parent).encode()).hexdigest()[:6]
    return out / "audio" / "augmented" / f"{kit.name}-{tag}" / f"{original.stem}_v{index}.flac"


def augment_kits(out: Path, files: list[Path], variants: int = AUGMENT_VARIANTS,
                 progress: bool = True, groups_of: dict[Path, str] | None = None) -> dict[Path, str]:
    """Write `variants` augmented versions of each file (skipping existing ones) -> {variant path: original's group}.

    Partners for layered hits come from the same kit folder.  A file that cannot
    be read is skipped (its labelling reports it in the originals' CSV).  The
    original's group is `groups_of[file]` where given, else its folder.
    """
    import numpy as np
    from tqdm import tqdm

    from encoder.audio import AudioError, load
    from encoder.augment import make_variant, seed_of
    from encoder.manifest import group_of

    by_kit: dict[Path, list[Path]] = {}
    for f in files:
        by_kit.setdefault(Path(f).parent, []).append(Path(f))
    groups: dict[Path, str] = {}
    bar = tqdm(total=len(files) * variants, desc="augmenting", unit="clip", disable=not progress,
               dynamic_ncols=True)
    for kit, members in by_kit.items():
        clips: dict[Path, np.ndarray] = {}
        for f in members:
            try:
                clips[f] = load(f).samples
            except AudioError:
                pass
        for f in members:
            partners = [c for g, c in clips.items() if g != f]  # other hits of the same kit, for layering
            for k in range(variants):
                bar.update(1)
                if f not in clips:
                    continue
                dest = augmented_path(out, f, k)
                groups[dest] = (groups_of or {}).get(f) or group_of(str(f))
                if dest.exists():
                    continue
                rng = np.random.default_rng(seed_of(canonical(out, f), k))
                try:
                    variant = make_variant(clips[f], rng, partners)
                except ValueError:
                    groups.pop(dest)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.stem + ".tmp.flac")
                sf.write(tmp, variant.samples, SAMPLE_RATE, subtype="PCM_16")
                tmp.replace(dest)
    bar.close()
    return groups


def attach_groups(csv_path: Path, groups: dict[str, str]) -> None:
    """Add (or refresh) a `group` column in a label CSV: stored path -> group."""
    with open(csv_path, newline="", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    columns = [c for c in rows[0] if c != "group"] + ["group"]
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "w", newline="", errors="surrogateescape") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        for r in rows:
            r["group"] = groups.get(r["path"], r.get("group") or "")
            w.writerow(r)
    os.replace(tmp, csv_path)


def _label_kits(out: Path, csv_path: Path, files: list[Path], augment: int, workers: int, progress: bool,
                groups: dict[Path, str] | None = None) -> tuple[int, Path | None]:
    """Label kit files into `csv_path` (with a `group` column when `groups` is given), then `augment`
    variants of each into `<csv stem>_aug.csv` -> (variants, that CSV, or None without variants)."""
    from encoder.label_run import label_to_csv, stored_path

    label_to_csv(files, csv_path, workers=workers, resume=True, progress=progress, prune=True)
    if groups:
        attach_groups(csv_path, {stored_path(f, csv_path): g for f, g in groups.items()})
    if augment <= 0:
        return 0, None
    variants = augment_kits(out, files, augment, progress, groups_of=groups)
    aug_csv = csv_path.with_name(csv_path.stem + "_aug.csv")
    label_to_csv(sorted(variants), aug_csv, workers=workers, resume=True, progress=progress, prune=True)
    attach_groups(aug_csv, {stored_path(f, aug_csv): g for f, g in variants.items()})
    return len(variants), aug_csv


def build(out: Path = Path("data"), n_synth: int = 2400, workers: int = 1, debian: bool = True,
          progress: bool = True, augment: int = AUGMENT_VARIANTS, extra: bool = True) -> BuildSummary:
    """Render and label the whole recipe under `out` (resumable); `augment` variants per kit file.

    `extra`: also the SoundFont, freepats and Sonic Pi kits (`extra_kit_files`) into `extra.csv` and
    their variants into `extra_aug.csv`, where those packages are installed.
    """
    from encoder.label_run import label_to_csv

    out = Path(out)
    labels = out / "labels"
    synth_files = render_synth(out, n_synth, progress)
    label_to_csv(synth_files, labels / "synth.csv", workers=workers, resume=True, progress=progress, prune=True)
    deb = debian_kit_files() if debian else []
    summary = BuildSummary(len(synth_files), len(deb), labels / "synth.csv", labels / "debian.csv" if deb else None)
    if deb:
        summary.augmented_files, summary.augmented_csv = _label_kits(out, labels / "debian.csv", deb, augment,
                                                                     workers, progress)
    more = extra_kit_files(out) if extra else {}
    if more:
        summary.extra_files, summary.extra_csv = len(more), labels / "extra.csv"
        summary.extra_augmented_files, summary.extra_augmented_csv = _label_kits(
            out, labels / "extra.csv", sorted(more), augment, workers, progress, groups=more)
    return summary
