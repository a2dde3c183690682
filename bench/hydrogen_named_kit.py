"""Drum kits for bench/onset_eval.py from Hydrogen kits whose file names do not say the drum, by instrument name.

realtime.loops reads a one-shot's drum role from its file name.  Two of the
installed Hydrogen kits name their files otherwise (rumpf_kit_z01_h2:
`beats_06-38.flac`; Audiophob: Freesound ids and authors), so no loop was ever
rendered from them; their `drumkit.xml` names each instrument ("c3 - bass drum
1", "Closed HH").  This reads those names (realtime.loops.role_of, as for file
names: pedal hats, claps, sticks and bells stay out) and writes, for each kit,
a folder of links named `<role>_<n>` to every layer file of the instruments it
recognises.  No onset detector parameter and no tree was ever fitted on loops
of these kits (found in session 29; their one-shots alone were counted for
retriggers in session 15, bench/oneshot_extras.py): held-out test sets,
`onset_eval.py --kits data/audio/hydrogen_named/rumpf_kit_z01_h2 ...`.

    .venv/bin/python bench/hydrogen_named_kit.py [--kits rumpf_kit_z01_h2 Audiophob] [--out data/audio/hydrogen_named]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import HYDROGEN_KITS, role_of  # noqa: E402

KITS = ("rumpf_kit_z01_h2", "Audiophob")
"""Installed Hydrogen kits with a kick, a snare and a closed hat by instrument name, not by file name."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # drumkit.xml may carry a namespace


def instrument_files(kit_dir: Path) -> list[tuple[str, Path]]:
    """(instrument name, sample file) for every layer of every instrument in `kit_dir`/drumkit.xml whose file
    exists.  Raises ValueError naming the file when the XML does not parse."""
    xml = kit_dir / "drumkit.xml"
    try:
        root = ET.parse(xml).getroot()
    except (ET.ParseError, OSError) as e:
        raise ValueError(f"{xml}: not a readable Hydrogen drumkit.xml ({e})") from e
    out = []
    for inst in root.iter():
        if _local(inst.tag) != "instrument":
            continue
        name = next((c.text or "" for c in inst if _local(c.tag) == "name"), "")
        for el in inst.iter():
            if _local(el.tag) == "filename" and el.text:
                path = kit_dir / el.text.strip()
                if path.is_file():
                    out.append((name.strip(), path))
    return out


def write_kit(kit_dir: Path, out: Path) -> dict[str, int]:
    """Link the layer files of `kit_dir`'s recognised instruments into `out` (replaced) as `<role>_<n><ext>` ->
    files per role.  Raises ValueError when the kit lacks a kick, a snare or a closed hat by instrument name."""
    chosen = [(role_of(name), path) for name, path in instrument_files(kit_dir)]
    chosen = [(role, path) for role, path in chosen if role is not None]
    counts = dict(Counter(role for role, _ in chosen))
    if not {"kick", "snare", "hat"} <= set(counts):
        raise ValueError(f"{kit_dir}: no kick, snare and closed hat among its instrument names ({counts})")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seen: dict[str, int] = {}
    for role, path in chosen:
        seen[role] = seen.get(role, 0) + 1
        name = f"{role}_{seen[role]:02d}"
        assert role_of(name) == role, (name, role)
        (out / (name + path.suffix.lower())).symlink_to(path.resolve())
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kits", nargs="+", default=list(KITS), metavar="NAME",
                    help=f"installed Hydrogen kits ({HYDROGEN_KITS}) to read (default: {' '.join(KITS)})")
    ap.add_argument("--out", type=Path, default=Path("data/audio/hydrogen_named"), help="where the kit folders go")
    args = ap.parse_args(argv)
    status = 0
    for kit in args.kits:
        try:
            counts = write_kit(HYDROGEN_KITS / kit, args.out / kit)
        except ValueError as e:
            print(f"hydrogen_named_kit: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{args.out / kit}: {', '.join(f'{n} {r}' for r, n in sorted(counts.items()))}")
    return status


if __name__ == "__main__":
    sys.exit(main())
