"""What PortAudio's input callback costs `listen`'s process through JACK, by the way the audio is taken.

    .venv/bin/python bench/callback_cost.py [--seconds 15] [--repeat 2] [-o FILE.md]

A private JACK dummy server (48 kHz, 128-frame periods; tests/jack_harness.py)
and, in a fresh process for each case, one sounddevice input stream of one
channel at 128 frames a block, with nothing played into it:

- `InputStream`, a callback that does nothing (sounddevice wraps each block in a
  numpy array first);
- `InputStream`, a callback that copies the block into a BlockRing (the code
  before session 14);
- `RawInputStream` (a plain buffer, no array), a callback that does nothing;
- `RawInputStream`, a callback that copies the buffer into a BlockRing as bytes
  (DeviceSource since session 14);
- no callback: PortAudio's blocking read, 512 frames at a time (no Python on
  the audio thread at all).

CPU = the process's user + system time over `--seconds` (after 1 s to settle),
in % of one core; the median of `--repeat` runs, cases alternating.  A case
that crashes is reported with the last line it printed.  Needs jackd and
libportaudio2 (scripts/setup.sh installs them).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

CASES = {
    "array_empty": "InputStream, empty callback",
    "array_ring": "InputStream, copy into the ring (before session 14)",
    "raw_empty": "RawInputStream, empty callback",
    "raw_ring": "RawInputStream, copy into the ring as bytes (DeviceSource)",
    "blocking": "no callback: blocking read of 512 frames",
}


def child(case: str, seconds: float) -> None:
    """Run one case in this process (JACK_DEFAULT_SERVER set by the parent); print its CPU %."""
    import sounddevice as sd

    from realtime.sources import BlockRing

    dev = next(i for i, d in enumerate(sd.query_devices())
               if d["max_input_channels"] > 0 and "JACK" in sd.query_hostapis(d["hostapi"])["name"])
    ring = BlockRing(96000, 1)
    perf = time.perf_counter

    def empty(indata, frames, time_info, status):
        pass

    def copy(indata, frames, time_info, status):
        ring.write(indata, perf(), bool(status))
        ring._read = ring._written  # nobody reads: keep the ring from filling
        ring._arrivals.clear()

    kind = sd.RawInputStream if case.startswith("raw") else sd.InputStream
    callback = None if case == "blocking" else (empty if case.endswith("empty") else copy)
    stream = kind(device=dev, channels=1, samplerate=48000, blocksize=128, dtype="float32", callback=callback)
    stream.start()
    time.sleep(1.0)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if callback is None:
        while time.perf_counter() - t0 < seconds:
            stream.read(512)
    else:
        time.sleep(seconds)
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    stream.stop()
    stream.close()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(f"{100 * cpu / wall:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, help="write the markdown here")
    ap.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.seconds)
        return 0
    from report import emit, machine
    from tests.jack_harness import JackServer, missing_jack_tools

    why = missing_jack_tools()
    if why:
        raise SystemExit(f"cannot run: {why}")
    got: dict[str, list] = {c: [] for c in CASES}
    server = JackServer(48000, 128)
    try:
        for _ in range(args.repeat):
            for case in CASES:
                out = subprocess.run([sys.executable, __file__, "--child", case, "--seconds", str(args.seconds)],
                                     env=server.env, capture_output=True, text=True, timeout=args.seconds + 60)
                lines = (out.stdout + out.stderr).strip().splitlines()
                if out.returncode == 0 and out.stdout.strip():
                    got[case].append(float(out.stdout.strip().splitlines()[-1]))
                else:
                    tail = [ln for ln in lines if "jack" not in ln.lower()][-1:] or lines[-1:]
                    got[case].append(f"exit {out.returncode}: {tail[0] if tail else ''}")
                print(case, got[case][-1], flush=True)
    finally:
        server.stop()
    rows = [f"Command: `python bench/callback_cost.py --seconds {args.seconds:g} --repeat {args.repeat}`  ",
            f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.2f}.  ",
            "JACK dummy driver, 48 kHz, 128-frame periods; one input channel, nothing played; CPU of the "
            "process (user + system) over the run, % of one core.", "",
            "| case | CPU, median | runs |", "|---|---|---|"]
    for case, label in CASES.items():
        nums = [v for v in got[case] if isinstance(v, float)]
        med = f"{statistics.median(nums):.2f} %" if len(nums) == len(got[case]) else "crashed"
        runs = ", ".join(f"{v:.2f}" if isinstance(v, float) else v for v in got[case])
        rows.append(f"| {label} | {med} | {runs} |")
    emit(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
