"""Hold quiet input: the worker runs the engine less often while nothing starts.

Most of `listen`'s CPU at real-time pace is the engine's per-call work running
cold after each sleep (BENCHMARKS.md, "Where `listen`'s CPU goes"), so fewer
calls cost much less.  The worker's groups (`realtime.engine.group_frames`) are
short because a hit may start in any of them and its early estimate must leave
with the block that completes its window.  A cheap look at each group's audio
(`RiseGate`: does any 1.3 ms chunk's energy, or its first or second
difference's, rise 1 dB above the loudest chunk of the 10 ms before it, the
chunk above -75 dBFS around its mean?) tells
the groups where a hit may start from those where nothing does.  `QuietHold`
keeps the quiet ones, up to `hold_frames`, and hands them to the engine with
the next group that completes a known hit's window, that reaches a rise's
confirmation, or that fills the hold:

- a rise's confirmation is its chunk plus the onset detector's worst-case delay
  (for the first and the last rising chunk of each read): the engine runs there,
  so a hit that starts there is found in time for its early window (every read
  until then when the early window is too short for that: `every_read`);
- held audio never passes the block that completes an open window (as far as
  the resampler's bursts allow: `Engine.frames_due(soonest=True)`);
- nothing is dropped or reordered: the engine gets every block, with its own
  arrival time, so the hits, the estimates and the latencies' reference (the
  block holding the onset) are as without holding.

A hit the gate does not see (under 1 dB of rise in every chunk: a soft ghost
note or hat under a louder tail) is found when the held audio runs, and its
early estimate leaves up to the hold's length later; a window cut short by a
later hit is complete once that hit is confirmed, so its final estimate may
leave at that hit's confirmation run.  `bench/quiet_hold.py` measures both,
and the CPU saved.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from realtime.sources import Block

CHUNK_S = 0.00133
"""Length of the gate's energy chunks, s (64 samples at 48 kHz)."""
REF_S = 0.0107
"""The gate's reference: the loudest chunk over this much audio before each chunk, s (8 chunks)."""
RISE_DB = 1.0
"""A chunk rises when its energy, or its first or second difference's, is this much over the reference, dB."""
FLOOR_DBFS = -75.0
"""Chunks quieter than this (RMS, dBFS; the onset detector's own floor) never rise."""
HOLD_MS = 32.0
"""The longest stretch of quiet audio the worker holds before running it, ms (12 blocks of 128 frames at 48 kHz)."""
HOLD_EVERY_BLOCK_MS = 16.0
"""... when the worker runs every block at once (an early window too short for groups, `--early-ms` under
about 17): a hit the gate does not see then waits at most this long, on a setting chosen for latency."""


@dataclass
class RiseGate:
    """Does a stretch of mono audio hold a possible onset?  Stateful: call `rise_at` on consecutive audio."""

    sample_rate: int
    rise_db: float = RISE_DB
    floor_dbfs: float = FLOOR_DBFS

    def __post_init__(self):
        if not math.isfinite(self.rise_db) or self.rise_db < 0:
            raise ValueError(f"RiseGate.rise_db = {self.rise_db}: must be a finite number >= 0")
        self.chunk = max(1, int(round(CHUNK_S * self.sample_rate)))
        self.n_ref = max(1, int(round(REF_S * self.sample_rate / self.chunk)))
        self.ratio = float(10.0 ** (self.rise_db / 10.0))
        self.floor = float(self.chunk * 10.0 ** (self.floor_dbfs / 10.0))  # a chunk's sum of squares
        self._rest = np.zeros(0, dtype=np.float32)  # samples not yet in a whole chunk
        self._buf = np.zeros(2, dtype=np.float32)  # [the two samples before the chunks, the chunks' samples]
        # energies of the last n_ref chunks: of the signal, its first and its second difference
        self._past = [deque([0.0] * self.n_ref, maxlen=self.n_ref) for _ in range(3)]
        self._start = 0  # the stream's sample index of _rest[0]

    def rise_at(self, x: np.ndarray) -> tuple[int, int] | None:
        """The first and the last chunk of `x` (mono float32, the audio after the last call's) rising over their
        reference: their first samples, counted from the stream's start; None when none does (whole chunks only:
        a partial one is kept for the next call).  A chunk holding NaN/inf counts as a rise, and the gate starts
        afresh after it.  (A handful of numpy calls: it runs for every group the worker reads, after a sleep,
        when each call costs most.)"""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if self._rest.size:
            x = np.concatenate([self._rest, x])
        c = self.chunk
        n = x.size - x.size % c
        start = self._start
        self._rest = x[n:]
        if n == 0:
            return None
        self._start = start + n
        buf = self._buf
        if buf.size != n + 2:
            buf = self._buf = np.concatenate([buf[:2], np.zeros(n, dtype=np.float32)])
        buf[2:] = x[:n]
        d = np.subtract(buf[1:], buf[:-1])  # n + 1 first differences
        d2 = np.subtract(d[1:], d[:-1])
        body = buf[2:].reshape(-1, c)
        rows = (body, d[1:].reshape(-1, c), d2.reshape(-1, c))
        energy = [np.einsum("ij,ij->i", r, r).tolist() for r in rows]
        sums = np.add.reduce(body, axis=1).tolist()  # the floor is on the chunk around its mean (no DC)
        buf[:2] = buf[-2:]
        if not np.isfinite(buf[:2]).all():
            buf[:2] = 0.0
        past = self._past
        ratio, floor = self.ratio, self.floor
        first = last = None
        for i, e in enumerate(zip(*energy)):
            if not all(map(math.isfinite, e)) or not math.isfinite(sums[i]):
                rise = True
                for p in past:  # start afresh: what follows the bad stretch rises over silence
                    p.extend([0.0] * self.n_ref)
            else:
                rise = e[0] - sums[i] * sums[i] / c > floor and any(v > ratio * max(p) for v, p in zip(e, past))
                for v, p in zip(e, past):
                    p.append(v)
            if rise:
                last = start + i * c
                if first is None:
                    first = last
        return None if first is None else (first, last)


@dataclass
class QuietHold:
    """The worker's hold on quiet input (see the module docstring).  `hold_frames` 0: nothing is held."""

    gate: RiseGate | None
    hold_frames: int
    confirm_frames: int
    """Input frames after a rising chunk's start by which the onset detector has confirmed an onset there (its
    worst-case delay and a chunk)."""
    every_read: bool = False
    """After a rise, run every read until the onset is confirmed, as without holding (the worker's groups are
    single blocks, or the early window is too short to wait for the confirmation in one run: `quiet_hold`);
    else run once, then."""
    held: list[Block] = field(default_factory=list)
    held_frames: int = 0
    _pos: int = 0  # input frames offered so far
    _deadlines: deque = field(default_factory=deque)  # input frame counts by which the engine must have run

    def frames_wanted(self, limit: int) -> int:
        """At most `limit` (>= 1) frames, counted from the first held one (or the next to read), and no more than
        fill the hold or reach the next deadline (a rise's confirmation)."""
        if self.hold_frames > 0:
            limit = min(limit, self.hold_frames)
        if self._deadlines and not self.every_read:
            limit = min(limit, self._deadlines[0] - (self._pos - self.held_frames))
        return max(1, limit)

    def offer(self, block: Block, mono: np.ndarray, due_frames: int) -> Block | None:
        """`block` has been read (`mono` its mono mix); `due_frames`: input frames, counted from the first held
        one (or from `block` when none is), until the next open window completes.  Returns what the engine
        should run now (the held blocks and `block`, joined), or None when `block` is held too."""
        n = int(block.data.shape[0])
        self.held.append(block)
        self.held_frames += n
        self._pos += n
        if self.gate is None or self.hold_frames <= 0:
            return self.release()
        rise = self.gate.rise_at(mono)
        if rise is not None:  # the first and the last rising chunk: a run covers every hit starting between
            self._deadlines.extend(sorted({r + self.confirm_frames for r in rise}))
        deadlines = self._deadlines
        run = (self.held_frames >= self.hold_frames or self.held_frames >= due_frames
               or bool(deadlines) and (self.every_read or self._pos >= deadlines[0]))
        return self.release() if run else None

    def release(self) -> Block | None:
        """Everything held, joined (None when nothing is)."""
        held, self.held, self.held_frames = self.held, [], 0
        while self._deadlines and self._deadlines[0] <= self._pos:
            self._deadlines.popleft()
        if not held:
            return None
        if len(held) == 1:
            return held[0]
        parts = tuple(p for b in held for p in (b.parts or ((int(b.data.shape[0]), b.t_arrival),)))
        last = held[-1]
        return Block(np.concatenate([b.data for b in held]), last.t_arrival, last.wall_arrival, parts)
