"""How much more a call costs after the thread slept: the machine's "cold" penalty, per kind of work.

    .venv/bin/python bench/cold_calls.py [--calls 60] [-o FILE.md]

`listen`'s worker sleeps between groups of blocks (about 10 ms) and between
hits (about 125 ms at 8 hits/s), so what it costs is each piece of work run
cold.  Each row runs one piece `--calls` times, sleeping 0, 10 or 60 ms before
each, and gives the median thread CPU time (CLOCK_THREAD_CPUTIME_ID) of one run:

- a pure-Python loop (a tiny working set: what the CPU itself does after a sleep);
- a sum over 4 MB of float64 (memory: what caches and TLBs lose while it sleeps);
- the shipped model (models/default.onnx, one window, one thread) and the network
  alone (models/network.onnx);
- the onset detector on a 4-block group (512 samples at 48 kHz) of a drum pattern.

On a machine whose caches survive a sleep, all ratios stay near 1.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

SLEEPS_S = (0.0, 0.01, 0.06)


def cost_us(step, calls: int, sleep_s: float) -> float:
    """Median thread CPU time of step() (us), each call after `sleep_s` s of sleep."""
    step()
    times = []
    for _ in range(calls):
        if sleep_s:
            time.sleep(sleep_s)
        t = time.thread_time_ns()
        step()
        times.append(time.thread_time_ns() - t)
    return statistics.median(times) / 1e3


def steps() -> dict:
    from realtime.onsets import OnsetDetector
    from realtime.runtime import load_model
    from tests.jack_harness import drum_pattern

    def python_loop():
        s = 0
        for i in range(2000):
            s += i * i
        return s

    big = np.random.default_rng(0).random(4 * 1024 * 1024 // 8)
    window = (np.random.default_rng(1).standard_normal((1, 16000)) * 0.1).astype(np.float32)
    shipped = load_model(REPO / "models" / "default.onnx", threads=1)
    network = load_model(REPO / "models" / "network.onnx", threads=1)
    audio, _ = drum_pattern(30.0, 8.0, 48000)
    det = OnsetDetector(48000)
    pos = [0]

    def detector_group():
        i = pos[0] % (audio.size - 512)
        det.process(audio[i:i + 512])
        pos[0] = i + 512

    return {"pure-Python loop (2000 iterations)": python_loop,
            "sum of 4 MB (float64)": big.sum,
            "shipped model, one window (models/default.onnx)": lambda: shipped.predict(window),
            "network alone, one window (models/network.onnx)": lambda: network.predict(window),
            "onset detector, one 4-block group (512 samples at 48 kHz)": detector_group}


def main(argv: list[str] | None = None) -> int:
    from report import emit, machine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=60, help="calls per sleep length")
    ap.add_argument("-o", "--out", type=Path, help="write the markdown here")
    args = ap.parse_args(argv)
    head = " | ".join(f"after {1e3 * s:g} ms (us)" for s in SLEEPS_S)
    rows = [f"Command: `python bench/cold_calls.py --calls {args.calls}`  ",
            f"Machine: {machine()}; load average at the start {os.getloadavg()[0]:.2f}.  ",
            "Median thread CPU time of one call, by the sleep before it.", "",
            f"| work | {head} | 60 ms / 0 ms |", "|---|" + "---|" * (len(SLEEPS_S) + 1)]
    for name, step in steps().items():
        us = [cost_us(step, args.calls, s) for s in SLEEPS_S]
        rows.append(f"| {name} | " + " | ".join(f"{u:.0f}" for u in us) + f" | {us[-1] / us[0]:.1f}x |")
        print(rows[-1], flush=True)
    emit(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
