"""listen's worker loop in one thread, for tests and benchmarks: the engine fed as Runner feeds it, without
real time.  Blocks "arrive" at the end of their audio (stream seconds), so what is measured is the grouping's
rule, not the machine."""
from __future__ import annotations

import numpy as np

from realtime.engine import Engine, EngineConfig, group_frames, read_group
from realtime.sources import BlockRing


def drive(audio: np.ndarray, block: int, config: EngineConfig, grouped: bool, model, rate: int = 48000):
    """Mono `audio` through an Engine with `model`: blocks arrive one by one (arrival time = the end of the
    block, in stream seconds); after each, the engine runs when the ring would wake the worker (grouped, the
    worker's own read: engine.read_group) or at once.  Returns (engine, [(call number, estimate)], [parts of
    each call]); the last call, `()`, is the end of the stream (what finish sends)."""
    got, calls = [], []
    engine = Engine(model, rate, config, [lambda e: got.append((len(calls) - 1, e))])
    ring = BlockRing(rate, 1)
    group = group_frames(engine, block) if grouped else 0
    for i in range(0, audio.size - block + 1, block):
        ring.write(audio[i:i + block, None], t_arrival=(i + block) / rate)
        b = read_group(ring, engine, group, timeout=0)
        if b is not False:
            calls.append(b.parts)
            engine.process_block(b.data, b.t_arrival, b.wall_arrival, b.parts)
    ring.close()  # the end of the stream: what is left, then None
    while (b := ring.read(timeout=0, min_frames=group, max_frames=group)) is not None:
        calls.append(b.parts)
        engine.process_block(b.data, b.t_arrival, b.wall_arrival, b.parts)
    calls.append(())  # (what finish sends)
    engine.finish()
    return engine, got, calls
