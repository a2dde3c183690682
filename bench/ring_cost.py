"""Time of realtime.ring.subtract_ring per final window, back to back, at 16 kHz.

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
        w = x[ctx: ctx + ms * SAMPLE_RATE // 1000]
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(args.repeat):
                subtract_ring(x[:ctx], w, SAMPLE_RATE)
            best = min(best, (time.perf_counter() - t) / args.repeat)
        print(f"| {ms} | {1000 * best:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
