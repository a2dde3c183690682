"""listen's worker loop in one thread, for tests and benchmarks: the engine fed as Runner feeds it, without
real time (or paced, for CPU benchmarks).  Blocks "arrive" at the end of their audio (stream seconds), so what
is measured is the grouping's rule, not the machine."""
from __future__ import annotations

import time

import numpy as np

from realtime.engine import Engine, EngineConfig, group_frames, hold_or_run, quiet_hold, read_group
from realtime.quiet_hold import QuietHold
from realtime.sources import BlockRing


def drive(audio: np.ndarray, block: int, config: EngineConfig, grouped: bool, model, rate: int = 48000,
          hold: bool = False, paced: bool = False, engine: Engine | None = None, hold_ms: float | None = None):
    """Mono `audio` through an Engine with `model` (or `engine`): blocks arrive one by one (arrival time = the
    end of the block, in stream seconds; `paced`: in real time, perf_counter() seconds, the thread sleeping
    until each is due); after each, the engine runs when the ring would wake the worker (grouped, the worker's
    own read: engine.read_group; `hold`: and its hold on quiet input, engine.quiet_hold, holding up to `hold_ms`
    when given) or at once.  Returns
    (engine, [(call number, estimate)], [parts of each call]); the last call, `()`, is the end of the stream
    (what finish sends)."""
    got, calls = [], []
    if engine is None:
        engine = Engine(model, rate, config)
    engine.callbacks.append(lambda e: got.append((len(calls) - 1, e)))
    ring = BlockRing(rate, 1)
    group = group_frames(engine, block) if grouped else 0
    held = quiet_hold(engine, group) if hold else QuietHold(None, 0, 0)
    if hold and hold_ms is not None:
        held.hold_frames = int(hold_ms * rate / 1000)
    t0 = time.perf_counter() if paced else 0.0

    def run(b):
        if b is not None:
            calls.append(b.parts)
            engine.process_block(b.data, b.t_arrival, b.wall_arrival, b.parts)

    for i in range(0, audio.size - block + 1, block):
        t = t0 + (i + block) / rate
        if paced and (wait := t - time.perf_counter()) > 0:
            time.sleep(wait)
        ring.write(audio[i:i + block, None], t_arrival=t)
        b = read_group(ring, engine, group, timeout=0, hold=held)
        if b is not False:
            run(hold_or_run(held, engine, b))
    ring.close()  # the end of the stream: what is left, then None
    while (b := ring.read(timeout=0, min_frames=group, max_frames=group)) is not None:
        run(hold_or_run(held, engine, b))
    run(held.release())
    calls.append(())  # (what finish sends)
    engine.finish()
    return engine, got, calls
