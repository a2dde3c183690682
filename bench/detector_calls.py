"""Calls the onset detector executes per block: a deterministic measure of its per-block overhead.

    .venv/bin/python bench/detector_calls.py [--params JSON] [--module PATH] [--block 128]

At real-time pace every call costs microseconds more than back to back (the
worker sleeps between blocks, see bench/engine_cpu.py), so the number of
calls per block is what the per-block path is tuned for.  A real kit's loop
(GMRockKit "mixed", 120 bpm, 48 kHz; the synth kit when it is not installed)
is fed in `--block`-sample blocks; after 400 blocks of warm-up this counts,
per block, the CALL bytecodes executed in the detector module's own code
(every function, method, ufunc or class call it makes) and all its bytecodes.
`--module` counts another version of realtime/onsets.py (e.g. one written out
by `git show REV:realtime/onsets.py > old.py`).
"""
from __future__ import annotations

import argparse
import dataclasses
import dis
import importlib.util
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import installed_kits, render_loop  # noqa: E402

RATE = 48000
WARM_UP = 400
CALL_OPS = {dis.opmap[o] for o in ("CALL", "CALL_FUNCTION", "CALL_METHOD", "CALL_FUNCTION_KW", "CALL_FUNCTION_EX",
                                   "CALL_KW") if o in dis.opmap}


def load_module(path: str | None):
    """realtime.onsets, or the module at `path`."""
    if path is None:
        import realtime.onsets as mod

        return mod
    spec = importlib.util.spec_from_file_location("onsets_counted", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (dataclasses look their module up)
    spec.loader.exec_module(mod)
    return mod


def count(mod, params_json: str | None, block: int) -> dict:
    """Per block: CALL bytecodes and all bytecodes executed in `mod`'s own code."""
    params = dataclasses.replace(mod.OnsetParams(), **json.loads(params_json)) if params_json else mod.OnsetParams()
    kit = "GMRockKit" if "GMRockKit" in installed_kits() else "synth"
    x = render_loop("mixed", 120, 6.0, RATE, seed=0, kit=kit).audio
    blocks = [x[i:i + block] for i in range(0, x.size - block + 1, block)]
    det = mod.OnsetDetector(RATE, params)
    for b in blocks[:WARM_UP]:
        det.process(b)
    blocks = blocks[WARM_UP:]
    fname = mod.__file__
    calls = ops = 0

    def trace(frame, event, arg):
        nonlocal calls, ops
        if frame.f_code.co_filename != fname:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode":
            ops += 1
            calls += frame.f_code.co_code[frame.f_lasti] in CALL_OPS
        return trace

    sys.settrace(trace)
    try:
        for b in blocks:
            det.process(b)
    finally:
        sys.settrace(None)
    return {"kit": kit, "blocks": len(blocks), "calls": calls / len(blocks), "bytecodes": ops / len(blocks)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=None, metavar="JSON", help="OnsetParams fields to change")
    ap.add_argument("--module", default=None, metavar="PATH", help="another version of realtime/onsets.py")
    ap.add_argument("--block", type=int, default=128, help="block size, samples")
    args = ap.parse_args(argv)
    r = count(load_module(args.module), args.params, args.block)
    print(f"{args.module or 'realtime/onsets.py'} {args.params or ''}: {r['kit']} loop, {r['blocks']} blocks of "
          f"{args.block} at {RATE} Hz; per block {r['calls']:.1f} calls, {r['bytecodes']:.0f} bytecodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
