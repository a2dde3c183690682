"""What holding quiet input (realtime.quiet_hold) costs in latency and saves in CPU.

    .venv/bin/python bench/quiet_hold.py [--seconds 6] [--seeds 1] [--kits K ...] [--cpu-seconds 15]
                                         [--repeat 3] [-o FILE.md]

Part 1, latency (deterministic, no clock): drum loops rendered from real
one-shots (realtime.loops: every style, 85-170 bpm; by default every installed
Debian kit) and the benchmark's pattern are fed, 128-frame blocks at 48 kHz, to
the engine as listen's worker takes them (Runner's reads, in audio time: the
worker wakes when the frames it asked for have arrived), once without the hold
(the groups alone) and once with it.  For every early and final estimate: how
long after the arrival of the block that completed its window the call that
sent it began, in audio time (without the hold 0 by design, but for windows cut
short by a later hit); the estimates themselves must be the same (hits, and values
within 1e-4, as ONNX against Keras: the float32 rounding of the clean-up and resampler follows the
calls' lengths), else the script fails.  Also the calls a second.

Part 2, CPU: the pattern of bench/realtime_latency.py (8 hits/s) at real-time
pace in this process, the worker's thread sleeping until each read's frames are
due, with and without the hold, in turn (ABBA: each first every other turn),
`--repeat` times each; the thread's CPU time over the audio's duration, % of one
core.  Then the gate alone: what its look at each read costs after a sleep.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from report import emit, machine  # noqa: E402
from tests.jack_harness import drum_pattern  # noqa: E402
from tests.worker_loop import drive  # noqa: E402

RATE = 48000
BLOCK = 128
BPMS = (85, 110, 140, 170)


def worker_calls(engine, audio: np.ndarray, hold_on: bool, paced: bool = False, hold_ms: float | None = None):
    """Feed `audio` (mono, RATE) to `engine` as Runner's worker does (tests.worker_loop.drive: its reads, then
    the hold), the blocks arriving at their audio time (paced: in real time, the thread sleeping until each is
    due).  Returns ([(estimate, the arrival time of its call's last block)], number of calls)."""
    _, got, calls = drive(audio, BLOCK, engine.config, True, None, RATE, hold=hold_on, paced=paced, engine=engine,
                          hold_ms=hold_ms)
    end = (audio.size // BLOCK) * BLOCK / RATE
    return [(e, calls[k][-1][1] if calls[k] else end) for k, e in got], len(calls) - 1


def _engine(model, early_ms: float):
    from realtime.engine import Engine, EngineConfig

    return Engine(model, RATE, EngineConfig(early_ms=early_ms))


def thread_cpu(fn) -> tuple[float, object]:
    """Run fn() on a new thread: (that thread's CPU seconds, what fn returned)."""
    out = {}

    def work():
        c0 = time.thread_time()
        result = fn()
        out.update(cpu=time.thread_time() - c0, result=result)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out["cpu"], out["result"]


def latency_rows(model, cases: list[tuple[str, np.ndarray, np.ndarray]], early_ms: float, hold_ms: float) -> dict:
    """Waits (ms of audio) of every estimate with and without the hold, over `cases` (name, audio, true onset
    times in s), the estimates of true hits (an onset within 25 ms) apart; checks they agree."""
    waits = {"early": [], "final": [], "early, true hits": [], "final, true hits": []}
    calls = {False: 0, True: 0}
    seconds = 0.0
    for name, audio, truth in cases:
        got = {}
        for hold_on in (False, True):
            est, n = worker_calls(_engine(model, early_ms), audio, hold_on, hold_ms=hold_ms)
            got[hold_on] = est
            calls[hold_on] += n
        seconds += audio.size / RATE
        a, b = got[False], got[True]
        key = lambda eb: (eb[0].hit_id, eb[0].kind)  # noqa: E731
        a, b = sorted(a, key=key), sorted(b, key=key)
        if [key(x) for x in a] != [key(x) for x in b]:
            raise SystemExit(f"{name}: the hold changed the hits ({len(a)} estimates without, {len(b)} with)")
        for (ea, ta), (eb, tb) in zip(a, b):
            if abs(ea.onset_s - eb.onset_s) > 1e-9 or np.max(np.abs(ea.values - eb.values)) > 1e-4:
                raise SystemExit(f"{name}: hit {ea.hit_id} {ea.kind}: the hold changed its estimate")
            pair = (1e3 * (ta - ea.t_ready_block), 1e3 * (tb - eb.t_ready_block))
            waits[ea.kind].append(pair)
            if truth.size and np.min(np.abs(truth - ea.onset_s)) <= 0.025:
                waits[f"{ea.kind}, true hits"].append(pair)
    return dict(waits=waits, calls={k: v / seconds for k, v in calls.items()}, seconds=seconds)


def _pct(values, q):
    return float(np.percentile(values, q)) if len(values) else float("nan")


def cpu_runs(model, audio: np.ndarray, repeat: int, early_ms: float, hold_ms: float | None) -> dict:
    res = {False: [], True: []}
    seconds = audio.size / RATE
    for turn in range(repeat):
        for hold_on in ((False, True) if turn % 2 == 0 else (True, False)):  # ABBA: neither always first
            cpu, (_, calls) = thread_cpu(lambda: worker_calls(_engine(model, early_ms), audio, hold_on, paced=True,
                                                              hold_ms=hold_ms))
            res[hold_on].append((100 * cpu / seconds, calls / seconds))
    return res


def gate_cost(audio: np.ndarray, group: int, repeat: int) -> list[tuple[float, float, float]]:
    """The rise gate alone on `audio` in `group`-frame reads on a thread, at real-time pace: (CPU % of a bare
    wake-up per read, CPU % with the gate, the gate's us per read back to back), `repeat` times."""
    from realtime.quiet_hold import RiseGate

    def run(with_gate: bool, paced: bool) -> float:
        def work():
            gate, t0 = RiseGate(RATE), time.perf_counter()
            for k in range(0, audio.size - group + 1, group):
                if paced and (wait := t0 + (k + group) / RATE - time.perf_counter()) > 0:
                    time.sleep(wait)
                if with_gate:
                    gate.rise_at(audio[k:k + group])

        return thread_cpu(work)[0]

    seconds, reads = audio.size / RATE, audio.size // group
    return [(100 * run(False, True) / seconds, 100 * run(True, True) / seconds, 1e6 * run(True, False) / reads)
            for _ in range(repeat)]


def main(argv: list[str] | None = None) -> int:
    from realtime.loops import STYLES, installed_kits, render_loop
    from realtime.runtime import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each loop, s")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--kits", nargs="*", default=None, help="kits (names or folders); default: every installed one")
    ap.add_argument("--cpu-seconds", type=float, default=15.0, help="length of the pattern for the CPU runs, s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hold-ms", type=float, default=None, help="hold this long (default: realtime.quiet_hold.HOLD_MS)")
    ap.add_argument("-o", "--out", type=Path)
    args = ap.parse_args(argv)
    t_start = time.time()
    model = load_model(None, threads=1)
    kits = args.kits if args.kits is not None else installed_kits()
    cases = []
    for kit in kits:
        for style in STYLES:
            for seed in range(args.seeds):
                bpm = BPMS[(seed + STYLES.index(style)) % len(BPMS)]
                loop = render_loop(style, bpm, args.seconds, RATE, seed=seed, kit=kit)
                cases.append((f"{Path(str(kit)).name} {style} {bpm} bpm seed {seed}", loop.audio, loop.onsets))
    pattern, pattern_truth = drum_pattern(args.cpu_seconds, 8.0, RATE)
    lines = [f"Command: `.venv/bin/python bench/quiet_hold.py {' '.join(argv if argv is not None else sys.argv[1:])}`  ",
             f"Machine: {machine()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"load average at the start {os.getloadavg()[0]:.2f}.  ",
             f"Loops: {len(cases)} ({len(kits)} kits x {len(STYLES)} styles x {args.seeds} seed(s), {args.seconds:g} s "
             f"each), 48 kHz, {BLOCK}-frame blocks; the shipped model and detector.", ""]
    for early_ms in (25.0, 5.0):
        lat = latency_rows(model, cases + [("pattern", pattern, pattern_truth)], early_ms, args.hold_ms)
        lines += [f"### `--early-ms {early_ms:g}`", "",
                  f"Calls a second: {lat['calls'][False]:.1f} without the hold, {lat['calls'][True]:.1f} with it "
                  f"({lat['seconds']:.0f} s of audio). Estimates: the same hits and values with and without.", "",
                  "| estimate | hold | n | waited at all | waited over 1 ms | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for kind, pairs in lat["waits"].items():
            for i, label in ((0, "without"), (1, "with")):
                w = np.array([p[i] for p in pairs])
                lines.append(f"| {kind} | {label} | {w.size} | {np.count_nonzero(w > 1e-6)} | "
                             f"{np.count_nonzero(w > 1.0)} | {_pct(w, 50):.2f} | {_pct(w, 95):.2f} | "
                             f"{_pct(w, 99):.2f} | {w.max() if w.size else float('nan'):.2f} |")
        cpu = cpu_runs(model, pattern, args.repeat, early_ms, args.hold_ms)
        lines += ["", f"CPU at real-time pace, the pattern ({args.cpu_seconds:g} s, 8 hits/s), in turn, "
                      f"{args.repeat} runs each: without the hold **{statistics.median(c for c, _ in cpu[False]):.2f} %** "
                      f"({', '.join(f'{c:.2f}' for c, _ in cpu[False])}; {cpu[False][0][1]:.0f} calls/s), with it "
                      f"**{statistics.median(c for c, _ in cpu[True]):.2f} %** "
                      f"({', '.join(f'{c:.2f}' for c, _ in cpu[True])}; {cpu[True][0][1]:.0f} calls/s).", ""]
        print("\n".join(lines[-16:]), flush=True)
    costs = gate_cost(pattern, 512, args.repeat)
    lines += ["### The gate alone", "",
              f"The pattern in 512-frame reads (the worker's groups at `--early-ms 25`), at real-time pace on a thread, "
              f"{args.repeat} runs: a bare wake-up per read {statistics.median(c[0] for c in costs):.2f} % of a core, "
              f"with the gate {statistics.median(c[1] for c in costs):.2f} % "
              f"({', '.join(f'{c[0]:.2f} / {c[1]:.2f}' for c in costs)}): the gate costs "
              f"{statistics.median((c[1] - c[0]) / 100 * pattern.size / RATE / (pattern.size // 512) * 1e6 for c in costs):.0f} us "
              f"a read after a sleep, against {statistics.median(c[2] for c in costs):.0f} us back to back.", ""]
    lines.append(f"Wall {time.time() - t_start:.0f} s.")
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
