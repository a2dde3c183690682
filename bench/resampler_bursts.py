"""How far the streaming resampler's output trails its input, block by block.

    .venv/bin/python bench/resampler_bursts.py [-o FILE.md]

soxr's streaming resampler (realtime.resampling.StreamResampler, HQ, to 16 kHz)
gives its output in bursts, so the delay between the input fed so far and the
output given so far swings from block to block.  The engine's estimate of when a
final window is complete (Engine.frames_due) uses the delay of the moment; the
worker's hold on quiet input asks for the soonest instead (`soonest=True`).
White noise in blocks of each size at each rate, after a quarter of the run:
the smallest and largest delay seen, in ms of 16 kHz output.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realtime.resampling import StreamResampler  # noqa: E402
from report import emit, machine  # noqa: E402

RATES = (8000, 22050, 32000, 44100, 48000, 96000)
BLOCKS = (32, 128, 512, 4096)


def delays(rate: int, block: int, seconds: float = 8.0) -> tuple[float, float]:
    """(smallest, largest) delay in ms of output, over blocks after the first quarter of `seconds` of noise."""
    rng = np.random.default_rng(0)
    r = StreamResampler(rate)
    lags = []
    for _ in range(int(seconds * rate / block)):
        r.process((rng.standard_normal(block) * 0.1).astype(np.float32))
        lags.append(r.samples_in * 16000 / rate - r.samples_out)
    lags = np.array(lags[len(lags) // 4:]) / 16.0
    return float(lags.min()), float(lags.max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)
    lines = [f"Command: `.venv/bin/python bench/resampler_bursts.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
             f"Machine: {machine()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| input rate (Hz) | " + " | ".join(f"{b}-frame blocks: delay min-max (ms)" for b in BLOCKS) + " |",
             "|---|" + "---|" * len(BLOCKS)]
    for rate in RATES:
        lines.append(f"| {rate} | " + " | ".join("{:.1f}-{:.1f}".format(*delays(rate, b)) for b in BLOCKS) + " |")
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
