"""Live terminal display (rich): the last hit's descriptors as bars, plus counters.

The engine callback only stores the latest estimate; rich redraws from its own
thread a few times a second, so the display never slows the engine.  A redraw
holds Python's GIL for a few ms; listen shortens the thread switch interval
for a device (listen_cli.GIL_SWITCH_S) so the audio callback is not kept waiting.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from encoder.descriptors import DESCRIPTORS


def display_wanted(requested: bool, stream=None) -> bool:
    """Show the display only when asked and stdout is a terminal."""
    stream = stream if stream is not None else sys.stdout
    return bool(requested) and hasattr(stream, "isatty") and stream.isatty()


def bar(value: float, width: int = 30) -> str:
    """A 0-1 value as a text bar of `width` cells."""
    v = 0.0 if not math.isfinite(value) else min(max(value, 0.0), 1.0)
    full = int(round(v * width))
    return "█" * full + "·" * (width - full)


class LiveDisplay:
    """Engine callback + rich Live view.  Use as a context manager around the run."""

    def __init__(self, stats, source_text: str, scale: str = "unit", refresh_per_second: float = 10.0,
                 extra=None):
        self.stats = stats
        self.extra = extra
        """Optional callable -> one more line of counters (e.g. OSC errors)."""
        self.source_text = source_text
        self.scale = scale
        self.refresh = refresh_per_second
        self.last_final = None
        self.last_early = None
        self._live = None

    def __call__(self, est) -> None:
        if est.kind == "final":
            self.last_final = est
        else:
            self.last_early = est

    def shown(self):
        """The estimate on show: the newest hit's (its final once sent, else its early one); None before the first.
        (In a busy part the last final estimate is the hit before's: its window closed when the newest was found.)"""
        early, final = self.last_early, self.last_final
        if early is None or final is None:
            return final or early
        return early if early.hit_id > final.hit_id else final

    def render(self):
        """The rich Panel to show now: the last hit's descriptors as bars, and the counters."""
        from rich.panel import Panel
        from rich.table import Table

        from realtime.osc_out import scale_values

        est = self.shown()
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right")
        table.add_column()
        table.add_column(justify="right")
        values = np.clip(est.values, 0, 1) if est is not None else np.zeros(len(DESCRIPTORS))
        shown = scale_values(est.values, self.scale) if est is not None else [0.0] * len(DESCRIPTORS)
        for name, v, s in zip(DESCRIPTORS, values, shown):
            table.add_row(name, bar(float(v)), f"{s:.2f}" if self.scale == "unit" else f"{s:.1f}")
        s = self.stats
        hit = (f"hit {est.hit_id} ({est.kind}) at {est.onset_s:.3f} s, peak {est.peak_dbfs:.1f} dBFS"
               if est is not None else "waiting for the first hit")
        counters = (f"hits {s.hits}   early {s.early}   final {s.final}   skipped {s.skipped}\n"
                    f"latency early {s.last_early_ms:.1f} ms   final {s.last_final_ms:.1f} ms (from the onset's block)\n"
                    f"xruns {s.xruns}   overflows {s.overflows}   dropped frames {s.dropped_frames}   "
                    f"non-finite {s.nonfinite_samples}   clipped {s.clipped_samples}")
        if self.extra is not None:
            counters += "\n" + self.extra()
        grid = Table.grid()
        grid.add_row(hit)
        grid.add_row(table)
        grid.add_row(counters)
        return Panel(grid, title=f"drumtimbre listen - {self.source_text}", subtitle="Ctrl-C to stop")

    def __enter__(self) -> "LiveDisplay":
        from rich.live import Live

        self._live = Live(get_renderable=self.render, refresh_per_second=self.refresh, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
