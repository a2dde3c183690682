"""The Pure Data example patch, loaded headless, receives hits and drives its voice."""
from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest

from realtime.engine import Estimate
from realtime.osc_out import OscOut
from tests.jack_harness import free_udp_port, pd_patch

pytestmark = pytest.mark.skipif(shutil.which("pd") is None,
                                reason="Pure Data not installed (Debian package puredata-core)")


def test_patch_receives_hits_and_sets_its_voice_from_the_timbre():
    port = free_udp_port()
    pd = pd_patch(port)
    try:
        out = OscOut([f"127.0.0.1:{port}"])
        values = np.array([0.8, 0.25, 0.6, 0.1, 0.5, 0.4, 0.3])  # hardness .. boominess
        for hit_id in range(40):  # resend until pd is up (UDP to a not-yet-bound port is lost)
            for kind in ("early", "final"):
                out(Estimate(kind, hit_id, 1.5 + hit_id, -6.5, values, 0.5, time.time(), 0.0, 0.0))
            if pd.wait_for("drumtimbre-hit:", 0.15):
                break
        assert pd.wait_for("drumtimbre-hit:", 0), "\n".join(pd.lines)
        # pd is listening now: one more hit, both of its bundles sent to a bound port (a hit of the
        # loop above can have lost its early bundle while pd was still starting)
        hit_id = 99
        for kind in ("early", "final"):
            out(Estimate(kind, hit_id, 1.5 + hit_id, -6.5, values, 0.5, time.time(), 0.0, 0.0))
        pd.wait_for(f"drumtimbre-voice: {hit_id} ", 3.0)
        time.sleep(0.2)  # the lines pd prints after it
    finally:
        pd.stop()
    text = "\n".join(pd.lines)
    assert "couldn't create" not in text, text
    hit = re.search(rf"drumtimbre-hit: ({hit_id}) ([\d.]+) (-[\d.]+)", text)
    assert hit, text
    assert float(hit.group(2)) == pytest.approx(1.5 + hit_id) and float(hit.group(3)) == pytest.approx(-6.5)
    assert re.search(rf"drumtimbre-early: {hit_id} ", text)
    timbre = re.search(rf"drumtimbre-timbre: {hit_id} (.*)", text)
    assert timbre and np.allclose([float(v) for v in timbre.group(1).split()], values, atol=1e-5)
    # voice: id cutoff(Hz) decay(ms) noise drive, from brightness, depth, roughness, hardness
    voice = re.search(rf"drumtimbre-voice: {hit_id} (.*)", text)
    assert voice, text
    cutoff, decay, noise, drive = (float(v) for v in voice.group(1).split())
    assert cutoff == pytest.approx(200 + 0.6 * 7800, rel=1e-4)
    assert decay == pytest.approx(40 + 0.25 * 600, rel=1e-4)
    assert noise == pytest.approx(0.1, abs=1e-5)
    assert drive == pytest.approx(1 + 0.8 * 9, rel=1e-4)
