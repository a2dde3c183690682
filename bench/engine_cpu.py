"""Where `listen`'s CPU goes: the engine's work per audio second, back to back and at real-time pace.

    .venv/bin/python bench/engine_cpu.py [--seconds 20] [--block 128] [--repeat 3] [--listen] [-o FILE.md]

The same drum pattern as bench/realtime_latency.py (8 hits/s, 48 kHz, generated
drums) is fed in `--block`-frame blocks, in this process, to

- a bare wake-up: a thread that sleeps until each block is due and does nothing
  (what one wake-up per block costs on this machine);
- the onset detector alone (realtime.onsets.OnsetDetector.process);
- the whole engine (realtime.engine.Engine.process_block: detection, streaming
  resampling, per-hit windows, the shipped ONNX model with one thread; no OSC),
  one block a call, and in groups as listen's worker takes them with
  `--group-ms auto` (as many blocks as Engine.frames_due allows, joined),

each twice: "back to back" (as fast as it goes: the work itself, caches warm) and
"paced" (each block handed over when it is due, as the audio callback does, the
thread sleeping in between).  CPU = that thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
over the audio's duration, in % of one core; the median of `--repeat` runs.

`--listen` also runs `drumtimbre listen --input FILE --realtime --no-display`
on the pattern (a file source at real-time pace, OSC to a local port nobody
reads) and reports its run time over the playback, per thread, from
/proc/PID/task/*/schedstat, by thread name: the worker (dt-engine), the file reader (dt-file), the rest.
No JACK needed, so it runs on any Linux machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from realtime_latency import by_name, thread_cpu_seconds, thread_names  # noqa: E402
from report import emit, machine  # noqa: E402
from tests.jack_harness import DRUMTIMBRE, drum_pattern  # noqa: E402

RATE = 48000


def _paced(step, blocks: list[np.ndarray], block: int, paced: bool) -> float:
    """Run step(block) for every block on a new thread; its CPU seconds."""
    out = {}

    def run():
        c0 = time.thread_time()
        due = time.perf_counter()
        for b in blocks:
            if paced:
                due += block / RATE
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            step(b)
        out["cpu"] = time.thread_time() - c0

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["cpu"]


def _paced_groups(engine, audio: np.ndarray, block: int, paced: bool) -> tuple[float, int]:
    """Feed `engine` as listen's worker does with `--group-ms auto`, on a new thread: it waits for the
    blocks that engine.frames_due asks for (up to the automatic group, never past a due window), then runs
    them at once.  Returns (its CPU seconds, the number of calls)."""
    from realtime.engine import group_frames

    out = {}

    def run():
        group = group_frames(engine, block)
        n = audio.size - audio.size % block
        c0, t0, pos, calls = time.thread_time(), time.perf_counter(), 0, 0
        while pos < n:
            end = min(n, pos + max(1, -(-engine.frames_due(group) // block)) * block)
            if paced:
                wait = t0 + end / RATE - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            parts = tuple((block, t0 + e / RATE) for e in range(pos + block, end + 1, block))
            engine.process_block(audio[pos:end, None], parts[-1][1], None, parts)
            pos, calls = end, calls + 1
        out.update(cpu=time.thread_time() - c0, calls=calls)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["cpu"], out["calls"]


def measure(audio: np.ndarray, block: int, repeat: int) -> list[dict]:
    from realtime.engine import Engine, EngineConfig
    from realtime.onsets import OnsetDetector
    from realtime.runtime import load_model

    model = load_model(None, threads=1)
    seconds = audio.size / RATE
    mono = [audio[i:i + block] for i in range(0, audio.size - block + 1, block)]
    frames = [b[:, None] for b in mono]
    rows = []

    def engine_step():
        eng = Engine(model, RATE, EngineConfig())
        return lambda b: eng.process_block(b, time.perf_counter())

    def detector_step():
        det = OnsetDetector(RATE)
        return det.process

    cases = [("bare wake-up (sleep until the block is due)", lambda: (lambda b: None), mono, (True,)),
             ("onset detector", detector_step, mono, (False, True)),
             ("engine (detector, resampler, windows, ONNX model)", engine_step, frames, (False, True))]
    for name, make, blocks, modes in cases:
        for paced in modes:
            cpu = [_paced(make(), blocks, block, paced) for _ in range(repeat)]
            pct = [100 * c / seconds for c in cpu]
            rows.append(dict(what=name, mode="paced" if paced else "back to back",
                             percent=statistics.median(pct), runs=pct,
                             us_per_block=1e6 * statistics.median(cpu) / len(blocks)))
    for paced in (False, True):
        got = [_paced_groups(Engine(model, RATE, EngineConfig()), audio, block, paced) for _ in range(repeat)]
        pct = [100 * c / seconds for c, _ in got]
        rows.append(dict(what=f"engine, blocks in groups as the worker takes them (--group-ms auto; "
                              f"{got[0][1] / seconds:.0f} calls/s)", mode="paced" if paced else "back to back",
                         percent=statistics.median(pct), runs=pct,
                         us_per_block=1e6 * statistics.median([c for c, _ in got]) / len(mono)))
    return rows


def listen_threads(audio: np.ndarray, block: int, tmp: Path) -> dict:
    """`drumtimbre listen --input --realtime`: run time of each thread over the playback, % of one core.

    The playback starts when listen prints its first line (model loaded, reader started); threads are
    listed busiest first, and by their kernel names (dt-engine: the worker; dt-file: the file reader;
    drumtimbre: the main thread)."""
    import socket

    import soundfile as sf

    wav = tmp / "pattern.wav"
    sf.write(str(wav), audio, RATE, subtype="FLOAT")
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    argv = DRUMTIMBRE + ["listen", "--input", str(wav), "--realtime", "--blocksize", str(block), "--no-display",
                         "--osc", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first_line = proc.stderr.readline()
        t0, first = time.perf_counter(), thread_cpu_seconds(proc.pid)
        last, t_end, names = dict(first), t0, thread_names(proc.pid)
        while proc.poll() is None:  # sample until it ends (a thread's last sample before it ended counts)
            try:
                now = thread_cpu_seconds(proc.pid)
                names.update(thread_names(proc.pid))
            except OSError:
                break
            last.update(now)
            t_end = time.perf_counter()
            time.sleep(0.05)
        err = first_line + proc.stderr.read()
    finally:
        sink.close()
    if proc.wait() != 0:
        raise SystemExit(f"listen failed ({proc.returncode}): {err[-500:]}")
    wall = t_end - t0
    threads = sorted((100 * (c - first.get(tid, 0.0)) / wall for tid, c in last.items()), reverse=True)
    return dict(wall_s=wall, total=sum(threads), threads=threads, by_name=by_name(first, last, names, wall),
                stderr=err.strip().splitlines()[-1:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the pattern, s")
    ap.add_argument("--block", type=int, default=128, help="block size, frames (default 128)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--listen", action="store_true", help="also run `drumtimbre listen --input --realtime`")
    ap.add_argument("-o", "--out", type=Path, help="write the markdown here")
    args = ap.parse_args(argv)
    audio, truth = drum_pattern(args.seconds, 8.0, RATE)
    rows = measure(audio, args.block, args.repeat)
    lines = [f"Command: `python bench/engine_cpu.py --seconds {args.seconds:g} --block {args.block} "
             f"--repeat {args.repeat}{' --listen' if args.listen else ''}`  ",
             f"Machine: {machine()}; load average at the start {os.getloadavg()[0]:.2f}.  ",
             f"{args.seconds:g} s at {RATE} Hz, 8 hits/s ({truth.size} hits), {args.block}-frame blocks "
             f"({RATE / args.block:.0f} a second); median of {args.repeat} runs.", "",
             "| work | fed | CPU, % of one core | per block (us) | runs |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['mode']} | {r['percent']:.2f} | {r['us_per_block']:.0f} | "
                     + ", ".join(f"{v:.2f}" for v in r["runs"]) + " |")
    extra = {}
    if args.listen:
        with tempfile.TemporaryDirectory() as tmp:
            lt = listen_threads(audio, args.block, Path(tmp))
        extra["listen"] = lt
        lines += ["", f"`drumtimbre listen --input PATTERN --realtime --blocksize {args.block} --no-display`: "
                  f"{lt['total']:.2f} % of one core over {lt['wall_s']:.1f} s; by thread (dt-engine: the worker, "
                  "dt-file: the file reader, drumtimbre: the main thread): "
                  + ", ".join(f"{n} {v:.2f} %" for n, v in sorted(lt["by_name"].items(), key=lambda kv: -kv[1])
                              if v >= 0.05) + "."]
    emit(lines, args.out)
    print(json.dumps(dict(rows=rows, **extra), indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
