"""What longer `--group-ms` groups cost in lateness: estimates that leave after their window was complete.

    .venv/bin/python bench/group_lateness.py [--seconds 20] [--groups auto 16 20 24] [-o FILE.md]

The engine runs as listen's worker runs it (tests.worker_loop.drive:
engine.read_group on a BlockRing, in one thread), with blocks "arriving" at the
end of their audio (stream seconds, no waiting) and a stand-in model: so it
measures the grouping's rule alone, not this machine.  For each estimate, lateness = the arrival of the last
block of the call that sent it minus the arrival of the block that completed its
window (0 when a call per block would have sent it in the same block's time).

Loops: six humanised loops rendered from real kits (realtime.loops: mixed,
groove16, ghosts, dense_hats, flams, kick_hat at 85-170 bpm), and the JACK
benchmark's regular 8 hits/s pattern (tests/jack_harness.drum_pattern).  An
early estimate is late when its onset is confirmed only after its early window
closed, in a group that did not know of the hit; `auto` leaves room for the
detector's worst case, so none are.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

RATE = 48000
LOOPS = (("mixed", 97, 1, "GMRockKit"), ("groove16", 133, 2, "lmms"), ("ghosts", 150, 3, "VariBreaks"),
         ("dense_hats", 110, 4, "TR808EmulationKit"), ("flams", 85, 5, "GMRockKit"), ("kick_hat", 170, 6, "lmms"))


class StandIn:
    """A model that answers at once (the grouping, not the model, is measured)."""

    def predict(self, batch):
        return np.zeros((len(batch), 7), np.float32)


def lateness(audio: np.ndarray, group_ms: float | None, block: int = 128) -> tuple[dict, float]:
    """({'early': [ms], 'final': [ms]}, calls a second) for `audio` through the worker's grouped reads."""
    from realtime.engine import EngineConfig
    from tests.worker_loop import drive

    _, got, calls = drive(audio, block, EngineConfig(group_ms=group_ms), True, StandIn(), RATE)
    late: dict = {"early": [], "final": []}
    for k, e in got:
        if calls[k]:  # (not the end of the stream, which closes what is left)
            late[e.kind].append(1e3 * (calls[k][-1][1] - e.t_ready_block))
    return late, (len(calls) - 1) / (audio.size / RATE)


def main(argv: list[str] | None = None) -> int:
    from realtime.loops import render_loop
    from report import emit, machine
    from tests.jack_harness import drum_pattern

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each loop, s")
    ap.add_argument("--groups", nargs="+", default=["auto", "16", "20", "24"], help="--group-ms values")
    ap.add_argument("-o", "--out", type=Path, help="write the markdown here")
    args = ap.parse_args(argv)
    sets = {"humanised loops (6, real kits)": [render_loop(st, bpm, args.seconds, RATE, seed=s, kit=kit).audio
                                               for st, bpm, s, kit in LOOPS],
            "JACK benchmark pattern (8 hits/s)": [drum_pattern(args.seconds, 8.0, RATE)[0]]}
    rows = [f"Command: `python bench/group_lateness.py --seconds {args.seconds:g} --groups {' '.join(args.groups)}`  ",
            f"Machine: {machine()} (the figures do not depend on it); load average {os.getloadavg()[0]:.2f}.  ",
            "48 kHz, 128-frame blocks, `--early-ms 25`. Lateness: the estimate's call ended this long after the "
            "block that completed its window (ms).", "",
            "| loops | `--group-ms` | calls / s | early estimates late | early late p95 / max (ms) "
            "| final late p50 / p95 (ms) |", "|---|---|---|---|---|---|"]
    for name, audios in sets.items():
        for g in args.groups:
            early, final, rates = [], [], []
            for audio in audios:
                late, per_s = lateness(audio, None if g == "auto" else float(g))
                early += late["early"]
                final += late["final"]
                rates.append(per_s)
            e, f = np.array(early), np.array(final)
            rows.append(f"| {name} | {g} | {np.mean(rates):.0f} | {int(np.sum(e > 0.01))} of {e.size} "
                        f"| {np.percentile(e, 95):.1f} / {e.max():.1f} | {np.percentile(f, 50):.1f} / "
                        f"{np.percentile(f, 95):.1f} |")
            print(rows[-1], flush=True)
    emit(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
