"""Deterministic train/validation/test splits, computed once and saved with a run.

As in the original study: 80/20 train+validation/test, then 80/20 of the rest,
giving 64/16/20 %.  Unlike the study (whose tf.data shuffle reshuffled the
split every epoch and leaked test clips into training), a split here is drawn
once from a seed, saved as CSV beside the model, and reused.  The grouped mode
keeps every group (kit or folder) wholly inside one split, so a model is judged
on kits it never heard.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

import numpy as np

from encoder.manifest import Manifest

SPLITS = ("train", "validation", "test")
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2
"""Of what remains after the test split: 0.2 * 0.8 = 16 % of all."""


def _targets(n: int) -> tuple[int, int]:
    """(n_test, n_validation) for n items: 20 % and then 20 % of the rest."""
    n_test = int(round(n * TEST_FRACTION))
    n_val = int(round((n - n_test) * VALIDATION_FRACTION))
    return n_test, n_val


def assign_keys(keys: list[str], seed: int = 0, grouped: bool = False,
                groups: list[str] | None = None) -> list[str]:
    """Split items named by `keys` -> 'train' | 'validation' | 'test' per item.

    Ungrouped: a seeded permutation of the items.  Grouped: a seeded
    permutation of the groups, filled test first and validation next, a group
    at a time, until each reaches its share of items; every group lands wholly
    in one split.  The result depends only on `seed` and the sets of keys and
    groups, not on their order.
    """
    n = len(keys)
    rng = np.random.default_rng(seed)
    out = ["train"] * n
    n_test, n_val = _targets(n)
    if not grouped:
        order = sorted(range(n), key=lambda i: keys[i])
        perm = rng.permutation(n)
        for rank, j in enumerate(perm):
            i = order[j]
            out[i] = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"
        return out
    if groups is None or len(groups) != n:
        raise ValueError("grouped split needs one group per item")
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    names = sorted(members)
    filled = {"test": 0, "validation": 0}
    for g in (names[j] for j in rng.permutation(len(names))):
        size = len(members[g])
        if filled["test"] + size / 2 <= n_test:
            split = "test"
        elif filled["validation"] + size / 2 <= n_val:
            split = "validation"
        else:
            split = "train"
        if split != "train":
            filled[split] += size
        for i in members[g]:
            out[i] = split
    return out


def assign(manifest: Manifest, seed: int = 0, grouped: bool = False) -> list[str]:
    """Split a manifest's records; see `assign_keys`.  Keys are the records' paths."""
    return assign_keys(manifest.paths(), seed, grouped, manifest.groups() if grouped else None)


VARIANT_FOLDER = re.compile(r"^(?P<kit>.+)-(?P<tag>[0-9a-f]{6})$")
VARIANT_STEM = re.compile(r"^(?P<stem>.+)_v\d+$")
"""An augmented variant's folder and file stem, as `encoder.recipe.augmented_path` names them:
`.../augmented/<kit folder name>-<sha1 of the kit folder path, 6 hex>/<original's stem>_v<k>.flac`."""


def original_key(record) -> tuple[str, str, str]:
    """(group, folder name, file stem) of a record's file: what names the clip it was made from, for an augmented
    variant (`variant_of`), or the clip itself otherwise (a variant keeps its original's group)."""
    p = Path(record.path)
    return record.group, p.parent.name, p.stem


def variant_of(record) -> tuple[tuple[str, str, str], str] | None:
    """For an augmented variant (a file laid out as `encoder.recipe.augmented_path` writes one), the
    `original_key` of the clip it was made from and the hash tag of that clip's kit folder; None otherwise."""
    p = Path(record.path)
    folder, stem = VARIANT_FOLDER.match(p.parent.name), VARIANT_STEM.match(p.stem)
    if p.parent.parent.name != "augmented" or not folder or not stem:
        return None
    return (record.group, folder["kit"], stem["stem"]), folder["tag"]


def _kit_tag(path: str) -> str:
    return hashlib.sha1(str(Path(path).parent).encode()).hexdigest()[:6]


def _ungrouped_by_source(manifest: Manifest, seed: int) -> list[str]:
    """The ungrouped `assign_by_source`: originals by path, source by source; variants follow their originals."""
    records = manifest.records
    out = [""] * len(records)
    variant = [variant_of(r) for r in records]
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_source.setdefault(r.source, []).append(i)
    order = sorted(by_source, key=lambda s: (Path(s).name, s))
    for source in order:  # every clip that is no variant: split by its path, as if no variant were there
        idx = [i for i in by_source[source] if variant[i] is None]
        for i, s in zip(idx, assign(Manifest([records[i] for i in idx]), seed=seed)):
            out[i] = s
    originals: dict[tuple[str, str, str], list[int]] = {}
    for i, r in enumerate(records):
        if variant[i] is None:
            originals.setdefault(original_key(r), []).append(i)
    for i, v in enumerate(variant):  # a variant goes where the clip it was made from went
        if v is None or v[0] not in originals:
            continue
        found = sorted(originals[v[0]], key=lambda j: records[j].path)
        same_kit = [j for j in found if _kit_tag(records[j].path) == v[1]]  # (several of one name: the hash)
        out[i] = out[(same_kit or found)[0]]
    for source in order:  # variants without their original here: those of one original stay together
        idx = [i for i in by_source[source] if not out[i]]
        if not idx:
            continue
        keys = sorted({"\0".join(variant[i][0]) for i in idx})
        split_of = dict(zip(keys, assign_keys(keys, seed=seed)))
        for i in idx:
            out[i] = split_of["\0".join(variant[i][0])]
    return out


def assign_by_source(manifest: Manifest, seed: int = 0, grouped: bool = False) -> list[str]:
    """`assign` applied to each source (label CSV / dataset) on its own.

    Every source then gives 64/16/20 % of its clips (or groups) to
    train/validation/test, so the test set holds real Debian kits as well as
    synth groups whatever their relative sizes.  Derived clips always follow their originals.  Grouped, a
    group found in several sources (a kit and its augmented variants) lands in one split: the one it gets in
    the first source, in sorted order of source names, that holds it.  Ungrouped, the clips that are no
    augmented variant are split by path, source by source, exactly as without variants; each variant
    (`variant_of`) then takes the split of the clip it was made from, wherever that is in the manifest, so no
    variant of a test clip is trained on; variants whose original is not in the manifest are split by their
    original, all variants of one clip together.
    """
    if not grouped:
        return _ungrouped_by_source(manifest, seed)
    out = [""] * len(manifest)
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(manifest.records):
        by_source.setdefault(r.source, []).append(i)
    decided: dict[str, str] = {}
    for source in sorted(by_source, key=lambda s: (Path(s).name, s)):
        idx = by_source[source]
        for i in idx:
            if manifest.records[i].group in decided:
                out[i] = decided[manifest.records[i].group]
        idx = [i for i in idx if not out[i]]
        if not idx:
            continue
        sub = Manifest([manifest.records[i] for i in idx])
        for i, s in zip(idx, assign(sub, seed=seed, grouped=True)):
            out[i] = s
            decided.setdefault(manifest.records[i].group, s)
    return out


def save(path: str | Path, manifest: Manifest, assignment: list[str]) -> None:
    """Write the split as CSV: path,group,split."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "group", "split"])
        for rec, split in zip(manifest.records, assignment):
            w.writerow([rec.path, rec.group, split])


def load(path: str | Path) -> dict[str, str]:
    """Read a saved split -> {path: split}."""
    with open(path, newline="") as f:
        return {row["path"]: row["split"] for row in csv.DictReader(f)}


def _same_file_key(path: str, base: str | Path | None = None) -> str:
    """A path as an absolute, normalised name (relative ones taken from `base`, default the working folder)."""
    p = Path(path)
    if not p.is_absolute():
        p = Path(base if base is not None else os.getcwd()) / p
    return os.path.normpath(str(p))


def run_base(run_dir: str | Path) -> str | None:
    """The folder a run was trained from (run.json's `cwd`): where its split.csv's relative paths start."""
    import json

    try:
        return json.loads((Path(run_dir) / "run.json").read_text()).get("cwd")
    except (OSError, ValueError, AttributeError):
        return None


def split_of(manifest: Manifest, saved: dict[str, str], base: str | Path | None = None) -> list[str | None]:
    """Each record's split in a saved split (`load`), or None where it has none: matched as the same file
    (absolute against relative, `a/../b`), a saved relative path taken from `base`, the folder the run was
    trained from; without `base` (a run older than run.json's `cwd`), by the path as written first, else as
    the same file from the working folder."""
    by_file = {_same_file_key(k, base): v for k, v in saved.items()}
    if base is not None:  # the run's folder is known: the same file, and only that
        return [by_file.get(_same_file_key(r.path)) for r in manifest.records]
    return [saved.get(r.path) or by_file.get(_same_file_key(r.path)) for r in manifest.records]


def by_split(manifest: Manifest, saved: dict[str, str], base: str | Path | None = None
             ) -> tuple[dict[str, Manifest], list[str]]:
    """Each split's records (in manifest order) of a saved split (`load`), and the paths of the records it does
    not know; one matching (`split_of`) for all."""
    which = split_of(manifest, saved, base)
    parts = {s: Manifest([r for r, w in zip(manifest.records, which) if w == s]) for s in SPLITS}
    return parts, [r.path for r, w in zip(manifest.records, which) if w is None]


def of_run(manifest: Manifest, run_dir: str | Path, command: str) -> dict[str, Manifest]:
    """Each split's records (`by_split`) of a run's saved split, RUN_DIR/split.csv, its paths matched from the
    folder the run was trained from; a warning on stderr under `drumtimbre COMMAND` counts the records in no
    split (left out, never a silent part of one) and names the first."""
    import sys

    split_csv = Path(run_dir) / "split.csv"
    parts, unknown = by_split(manifest, load(split_csv), run_base(run_dir))
    if unknown:
        print(f"drumtimbre {command}: warning: {len(unknown)} of the {len(manifest)} --data clips are in no split "
              f"of {split_csv} (left out), e.g. {unknown[0]}", file=sys.stderr)
    return parts


def in_split(manifest: Manifest, saved: dict[str, str], split: str, base: str | Path | None = None) -> Manifest:
    """The records a saved split (`load`) puts in `split`, in manifest order; records it does not know are left out
    (see `split_of` for how paths are matched)."""
    return Manifest([r for r, s in zip(manifest.records, split_of(manifest, saved, base)) if s == split])


def apply(manifest: Manifest, saved: dict[str, str]) -> list[str]:
    """A saved split applied to a manifest; records the split does not know raise KeyError."""
    missing = [r.path for r in manifest.records if r.path not in saved]
    if missing:
        raise KeyError(f"{len(missing)} records are not in the saved split, e.g. {missing[0]}")
    return [saved[r.path] for r in manifest.records]


def subset(manifest: Manifest, assignment: list[str], split: str) -> Manifest:
    """The records of one split, in manifest order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return Manifest([r for r, s in zip(manifest.records, assignment) if s == split])
