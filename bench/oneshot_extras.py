"""Every one-shot file of the Debian kits, alone: onsets away from its attack, ours vs aubio.

    .venv/bin/python bench/oneshot_extras.py [--params JSON] [--no-aubio] [--rate HZ] [--out FILE.md]

Each audio file under the Hydrogen kits and LMMS' drums (kick, snare, hat,
tom, cymbal, percussion: all of them, with or without a role in
realtime.loops) is prepared as the loops' one-shots are (mono, DC removed,
48 kHz unless --rate, peak 0.9), played alone after 0.25 s of silence and followed by 0.5 s
of it.  An onset more than 25 ms from the attack (the first sample at -40 dB
re the peak) is "extra": a hit the player never played.  Files whose sound
attacks again by more than 10 dB (realtime.loops.has_second_attack) are
counted apart: there a second onset may be right.  bench/onset_robustness.py
check 3 does this for the cymbals and open hats of the kits with roles only.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from onset_eval import aubio_onsets  # noqa: E402
from realtime.loops import (AUDIO_SUFFIXES, HYDROGEN_KITS, LMMS_DRUMS, _attack_index, _prepare,  # noqa: E402
                            has_second_attack)
from realtime.onset_trees import trees_source  # noqa: E402
from realtime.onsets import OnsetParams, detect  # noqa: E402
from report import emit, machine  # noqa: E402

RATE = 48000
AUBIO = ("mkl", "hfc", "complex")  # at threshold 0.05, onset_eval's best settings


def one_shots() -> list[tuple[str, Path]]:
    """(kit name, file) of every audio file of the installed kits."""
    roots = [(p.name, p) for p in sorted(HYDROGEN_KITS.iterdir()) if p.is_dir()] if HYDROGEN_KITS.is_dir() else []
    if LMMS_DRUMS.is_dir():
        roots.append(("lmms", LMMS_DRUMS))
    return [(kit, f) for kit, root in roots for f in sorted(root.rglob("*")) if f.suffix.lower() in AUDIO_SUFFIXES]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", default=None, metavar="JSON", help="OnsetParams fields to change for ours")
    p.add_argument("--no-aubio", action="store_true")
    p.add_argument("--rate", type=int, default=RATE, help=f"sample rate the one-shots are played at, Hz (default {RATE})")
    p.add_argument("--out", type=Path, help="write the markdown here")
    args = p.parse_args(argv)
    rate_out = args.rate
    params = OnsetParams(**json.loads(args.params)) if args.params else OnsetParams()
    dets = {"ours": lambda x: detect(x, rate_out, 128, params)}
    if not args.no_aubio:
        try:
            import aubio  # noqa: F401
            for m in AUBIO:
                dets[f"aubio {m} 0.05"] = lambda x, m=m: aubio_onsets(x, rate_out, m, 0.05).times
        except ImportError:
            print("aubio not installed (pip install aubio-ledfx): its columns are left out", file=sys.stderr)
    t0 = time.perf_counter()
    extra = {k: collections.Counter() for k in ("plain", "second")}  # detector -> extra onsets
    files = collections.Counter()
    by_kit: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    worst: list[tuple[int, str]] = []
    unread = []
    for kit, f in one_shots():
        try:
            x, rate = sf.read(str(f), dtype="float64", always_2d=True)
        except Exception as exc:  # a file soundfile cannot read is named, not fatal
            unread.append(f"{f}: {exc}")
            continue
        shot = _prepare(x, rate, rate_out)
        if shot is None:
            continue
        attack = _attack_index(shot)
        kind = "second" if has_second_attack(shot, rate_out, attack) else "plain"
        files[kind] += 1
        y = np.concatenate([np.zeros(rate_out // 4, np.float32), shot * np.float32(0.9),
                            np.zeros(rate_out // 2, np.float32)])
        for name, fn in dets.items():
            times = np.asarray(fn(y))
            n = int(np.count_nonzero(np.abs(times - (0.25 + attack / rate_out)) > 0.025))
            extra[kind][name] += n
            if kind == "plain":
                by_kit[kit][name] += n
                by_kit[kit]["files"] += name == "ours"
            if name == "ours" and n and kind == "plain":
                worst.append((n, f"{kit}/{f.name}"))
    names = list(dets)
    lines = ["Command: `.venv/bin/python bench/oneshot_extras.py" + (f" --params '{args.params}'" if args.params else "")
             + (" --no-aubio" if args.no_aubio else "") + (f" --rate {rate_out}" if rate_out != RATE else "") + "`  ",
             f"Machine: {machine()}; {time.perf_counter() - t0:.0f} s wall.  ",
             f"Ours: {params if args.params else 'OnsetParams(defaults)'}, 128-sample blocks at {rate_out} Hz, with "
             f"{trees_source(params.trees)}; aubio: buf 512, "
             "hop 256, minioi 30 ms.", "",
             "### Extra onsets (more than 25 ms from the attack), every one-shot alone", "",
             "| one-shots | files | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind, label in (("plain", "one attack"), ("second", "a second attack (> 10 dB)")):
        lines.append(f"| {label} | {files[kind]} | " + " | ".join(str(extra[kind][n]) for n in names) + " |")
    lines += ["", "By kit (one-attack files):", "", "| kit | files | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    for kit, c in sorted(by_kit.items()):
        lines.append(f"| {kit} | {c['files']} | " + " | ".join(str(c[n]) for n in names) + " |")
    lines += ["", "Most extra onsets of ours (one-attack files): "
              + ", ".join(f"{f} {n}" for n, f in sorted(worst, reverse=True)[:10]) + "."]
    if unread:
        lines += ["", "Not read: " + "; ".join(unread)]
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
