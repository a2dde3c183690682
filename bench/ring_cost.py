"""Time of realtime.ring.subtract_ring per window, back to back: final windows at 16 kHz, early ones (3 ms of
pre-roll + `early_ms`) at the input rate, as the engine cuts them by default.

    .venv/bin/python bench/ring_cost.py [--repeat 200]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoder.descriptors import SAMPLE_RATE  # noqa: E402
from realtime.ring import context_samples, subtract_ring  # noqa: E402


def best_ms(before: np.ndarray, window: np.ndarray, rate: int, repeat: int) -> float:
    """ms per subtract_ring call, the best of 3 rounds of `repeat` calls."""
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeat):
            subtract_ring(before, window, rate)
        best = min(best, (time.perf_counter() - t) / repeat)
    return 1000 * best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200, help="calls per window length (best of 3 rounds)")
    args = ap.parse_args(argv)
    x = np.random.default_rng(0).standard_normal(context_samples(SAMPLE_RATE) + SAMPLE_RATE).astype(np.float32)
    ctx = context_samples(SAMPLE_RATE)
    print(f"Machine: {platform.machine()} {platform.system()}, Python {platform.python_version()}, numpy "
          f"{np.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| window (ms) | subtract_ring, ms per call (best of 3 rounds) |\n|---|---|")
    for ms in (50, 125, 200, 500, 1000):
        print(f"| {ms} | {best_ms(x[:ctx], x[ctx: ctx + ms * SAMPLE_RATE // 1000], SAMPLE_RATE, args.repeat):.3f} |")
    print("\n| early window (ms, with 3 ms of pre-roll) | rate (Hz) | subtract_ring, ms per call (best of 3 rounds) |"
          "\n|---|---|---|")
    for rate in (SAMPLE_RATE, 44100, 48000):
        ctx = context_samples(rate)
        y = np.random.default_rng(1).standard_normal(ctx + rate // 10).astype(np.float32)
        for ms in (8, 28):
            print(f"| {ms} | {rate} | {best_ms(y[:ctx], y[ctx: ctx + ms * rate // 1000], rate, args.repeat):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
