"""The live display shows the newest hit's estimate, and draws its bars from it."""
import numpy as np

from realtime.display import LiveDisplay, bar
from realtime.engine import EngineStats, Estimate


def est(kind: str, hit_id: int, value: float) -> Estimate:
    return Estimate(kind, hit_id, 0.1 * hit_id, -6.0, np.full(7, value, dtype=np.float32), 0.5, 0.0, 0.0, 0.0)


def test_the_newest_hit_is_shown_once_its_early_estimate_is_out():
    d = LiveDisplay(EngineStats(), "test")
    assert d.shown() is None
    d(est("early", 1, 0.2))
    assert (d.shown().hit_id, d.shown().kind) == (1, "early")
    d(est("final", 1, 0.3))
    assert (d.shown().hit_id, d.shown().kind) == (1, "final")
    # a busy part: hit 1's window closed when hit 2 was found, then hit 2's early estimate left
    d(est("early", 2, 0.9))
    assert (d.shown().hit_id, d.shown().kind) == (2, "early")
    d(est("final", 2, 0.4))
    assert (d.shown().hit_id, d.shown().kind) == (2, "final")


def test_the_panel_draws_the_shown_estimate():
    from rich.console import Console

    d = LiveDisplay(EngineStats(), "test")
    d(est("early", 1, 0.2))
    d(est("final", 1, 0.3))
    d(est("early", 2, 0.9))
    console = Console(width=120, record=True, color_system=None)
    console.print(d.render())
    text = console.export_text()
    assert "hit 2 (early)" in text
    assert bar(0.9) in text and bar(0.3) not in text
