"""Which true onsets does our detector miss on the rendered loops, and could they be heard at all?

For every ground-truth onset our live detector misses (+-25 ms), on the same
loops as bench/onset_eval.py (one seed, 6 s), this renders the missed hit(s)
alone and the rest of the loop without them, and measures, in the 15 ms after
the onset, how much louder the hit is than the rest: broadband and above 5 kHz
(dB; negative = the rest of the mix is louder).  A miss more than 6 dB under the
rest in both is counted as masked.  Prints a summary and, with --list, every miss.

    .venv/bin/python bench/onset_misses.py --set held-out
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import BPMS, TUNING_KITS, ours  # noqa: E402
from realtime.onset_match import match  # noqa: E402
from realtime.loops import MERGE_S, STYLES, add_shot, installed_kits, load_kit, render_loop  # noqa: E402

MASKED_DB = -6.0
"""A miss quieter than the rest of the mix by more than this (dB), broadband and above 5 kHz, is masked."""
SPAN_S = 0.015
"""Seconds after the onset over which hit and rest are compared."""


def _render(hits, byfile, rate: int, n: int) -> np.ndarray:
    """The hits mixed alone into n samples, as render_loop placed them (before its peak normalisation)."""
    out = np.zeros(n)
    for h in hits:
        add_shot(out, byfile[h.file], int(round(h.time * rate)), h.gain_db)
    return out


def misses(kit: str, rate: int = 48000, seconds: float = 6.0) -> list[dict]:
    """One dict per missed true onset in the kit's loops (all styles, seed 0)."""
    shots = load_kit(kit, rate)
    byfile = {s.file: s for pool in shots.values() for s in pool}
    high = butter(4, 5000, "hp", fs=rate, output="sos")
    span = int(SPAN_S * rate)
    rows = []
    for s, style in enumerate(STYLES):
        bpm = BPMS[s % len(BPMS)]
        loop = render_loop(style, bpm, seconds, rate, seed=0, kit=kit)
        found = ours(loop.audio, rate, 128).times
        hit = {r for r, _ in match(found, loop.onsets, 0.025)}
        full = _render(loop.hits, byfile, rate, loop.audio.size)
        for r, t in enumerate(loop.onsets):
            if r in hit:
                continue
            group = [h for h in loop.hits if 0 <= h.time - t < MERGE_S]  # the hits merged into this onset
            alone = _render(group, byfile, rate, full.size)
            rest = full - alone
            at = int(round(t * rate))
            w = slice(at, at + span)

            def db(x: np.ndarray) -> float:
                return float(10 * np.log10(np.mean(x[w] ** 2) + 1e-20))

            rows.append(dict(kit=Path(kit).name, style=style, bpm=bpm, time=float(t),
                             roles="+".join(h.role for h in group), gain_db=max(h.gain_db for h in group),
                             snr_db=db(alone) - db(rest),
                             snr_high_db=db(sosfilt(high, alone)) - db(sosfilt(high, rest))))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", choices=("tuning", "held-out"), default="held-out")
    p.add_argument("--list", action="store_true", help="print every miss")
    args = p.parse_args(argv)
    kits = [k for k in installed_kits() if (k in TUNING_KITS) == (args.set == "tuning")]
    if not kits:
        print("no Debian drum kits installed (apt install hydrogen-drumkits hydrogen-data lmms-common)",
              file=sys.stderr)
        return 1
    rows = [m for k in kits for m in misses(k)]
    masked = [m for m in rows if m["snr_db"] < MASKED_DB and m["snr_high_db"] < MASKED_DB]
    ghosts = [m for m in rows if m["roles"] == "snare" and m["gain_db"] <= -20]
    if args.list:
        for m in rows:
            print(f"{m['kit']:24s} {m['style']:10s} {m['bpm']:3d} {m['time']:7.3f} {m['roles']:12s} "
                  f"gain {m['gain_db']:6.1f} dB  vs rest {m['snr_db']:6.1f} dB, above 5 kHz {m['snr_high_db']:6.1f} dB")
    print(f"{args.set} kits: {len(rows)} missed true onsets; ghost notes (snares at -20 dB or less) {len(ghosts)}; "
          f"masked (> {-MASKED_DB:g} dB under the rest of the mix, broadband and above 5 kHz, in the "
          f"{SPAN_S * 1000:g} ms after the onset) {len(masked)}, of them ghost notes "
          f"{sum(m in ghosts for m in masked)}")
    print("misses by style:", dict(Counter(m["style"] for m in rows)))
    print("misses by kit:", dict(Counter(m["kit"] for m in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
