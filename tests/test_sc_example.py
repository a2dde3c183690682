"""The SuperCollider example, run headless: sclang evaluates it, scsynth plays through a JACK dummy server,
hits sent by drumtimbre's own OSC sender sound, and their timbre shapes the sound."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from realtime.engine import Estimate
from realtime.osc_out import OscOut
from tests.jack_harness import JackServer, LineReader, free_udp_port

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "drumtimbre_voice.scd"
RATE = 48000


def _missing() -> str | None:
    for tool, package in (("sclang", "supercollider-language"), ("scsynth", "supercollider-server"),
                          ("jackd", "jackd2")):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian package {package})"
    try:
        import jack  # noqa: F401
    except Exception as exc:  # JACK-Client needs libjack
        return f"JACK-Client not usable ({exc})"
    return None


WHY = _missing()
pytestmark = [pytest.mark.jack, pytest.mark.skipif(WHY is not None, reason=WHY or "")]


class Sclang:
    """sclang evaluating the example with its server on `server_port`; its output lines in `out`."""

    def __init__(self, jack: JackServer, server_port: int, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        runtime = home / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        wrapper = home / "run.scd"
        # the example boots the default server: give it a free port, then evaluate the file unchanged
        wrapper.write_text(f'Server.default.addr = NetAddr("127.0.0.1", {server_port});\n'
                           f'{str(SCRIPT)!r}.load;\n'.replace("'", '"'))
        env = dict(jack.env, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), QT_QPA_PLATFORM="offscreen",
                   QTWEBENGINE_DISABLE_SANDBOX="1")  # sclang links QtWebEngine, which refuses root otherwise
        self.server_port = server_port
        self.out = LineReader(["sclang", str(wrapper)], env=env, stream="both", cwd=home)

    def stop(self):
        # scsynth is sclang's child: ask it to quit first, or it outlives sclang
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"/quit\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", self.server_port))
        time.sleep(0.3)
        self.out.stop()
        pids = _scsynth_pids(self.server_port)  # still up: SIGTERM (its JACK client closes), SIGKILL at last
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        end = time.time() + 5
        while pids and time.time() < end:
            time.sleep(0.05)
            pids = _scsynth_pids(self.server_port)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)


def _scsynth_pids(port: int) -> list[int]:
    """Pids of running scsynth processes serving UDP `port`."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\x00")
            except OSError:
                continue
            if argv and argv[0].endswith(b"scsynth") and b"-u" in argv and str(port).encode() in argv:
                pids.append(int(d.name))
    return pids


class Recorder:
    """A JACK client recording `port` (e.g. 'SuperCollider:out_1') into a list of blocks."""

    def __init__(self, jack_server: JackServer, port: str):
        import jack

        self.blocks: list[np.ndarray] = []
        self.client = jack.Client(f"rec{os.getpid()}", servername=jack_server.name, no_start_server=True)
        self.inport = self.client.inports.register("in")
        self.client.set_process_callback(lambda frames: self.blocks.append(self.inport.get_array().copy()))
        self.client.activate()
        self.client.connect(port, self.inport)

    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)

    def close(self):
        self.client.deactivate()
        self.client.close()


def _bursts(x: np.ndarray, level: float = 1e-3, gap_s: float = 0.3) -> list[np.ndarray]:
    """Stretches of `x` above `level` separated by at least `gap_s` of quiet."""
    loud = np.flatnonzero(np.abs(x) > level)
    if loud.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(loud) > gap_s * RATE)
    starts = np.r_[loud[0], loud[cuts + 1]]
    ends = np.r_[loud[cuts], loud[-1]] + 1
    return [x[a:b] for a, b in zip(starts, ends)]


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, power) of `x`."""
    return np.fft.rfftfreq(x.size, 1 / RATE), np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2 + 1e-20


def _centroid_hz(x: np.ndarray) -> float:
    """Spectral centroid (of the magnitude), Hz."""
    f, power = _spectrum(x)
    mag = np.sqrt(power)
    return float((f * mag).sum() / mag.sum())


def _flatness(x: np.ndarray, top_hz: float = 4000.0) -> float:
    """Spectral flatness (geometric over arithmetic mean power, 0-1) from 50 Hz to `top_hz`: noise near 1."""
    f, power = _spectrum(x)
    band = power[(f >= 50) & (f <= top_hz)]
    return float(np.exp(np.mean(np.log(band))) / np.mean(band))


def _share_above(x: np.ndarray, hz: float = 1000.0) -> float:
    """Share of the power above `hz` (0-1)."""
    f, power = _spectrum(x)
    return float(power[f > hz].sum() / power.sum())


# hardness, depth, brightness, roughness, warmth, sharpness, boominess: each hit differs from another in one
# mapped descriptor (brightness -> cutoff, depth -> decay, roughness -> noise, hardness -> drive)
HITS = {
    0: np.array([0.3, 0.05, 0.95, 0.9, 0.5, 0.5, 0.5]),   # bright, short, noisy
    1: np.array([0.3, 0.9, 0.02, 0.9, 0.5, 0.5, 0.5]),    # as 0, dark and long
    2: np.array([0.0, 0.05, 0.95, 0.0, 0.5, 0.5, 0.5]),   # as 0, no noise, no drive
    3: np.array([1.0, 0.05, 0.95, 0.0, 0.5, 0.5, 0.5]),   # as 2, full drive
}


def test_supercollider_example_plays_a_voice_per_hit_shaped_by_its_timbre(tmp_path):
    with contextlib.ExitStack() as stack:
        jack = JackServer(rate=RATE, period=256)
        stack.callback(jack.stop)  # last
        sc = Sclang(jack, free_udp_port(), tmp_path / "home")
        stack.callback(sc.stop)
        ready = sc.out.wait_for(r"drumtimbre voice ready on port (\d+)", 90)
        assert ready, "\n".join(sc.out.lines[-40:])
        assert jack.wait_port("SuperCollider:out_1", 10), "scsynth has no JACK output port"
        recorder = Recorder(jack, "SuperCollider:out_1")
        stack.callback(recorder.close)
        out = OscOut([f"127.0.0.1:{ready.group(1)}"])
        stack.callback(out.close)
        for hit_id, values in HITS.items():
            # the early estimate alone must play the voice; the final one is only posted
            out(Estimate("early", hit_id, 1.5 + hit_id, -6.5, values, 0.5, time.time(), 0.0, 0.0))
            assert sc.out.wait_for(rf"drumtimbre-voice: {hit_id} ", 10), "\n".join(sc.out.lines[-20:])
            time.sleep(1.2)  # the longest voice decays in 0.6 s: the hits are apart in the recording
            out(Estimate("final", hit_id, 1.5 + hit_id, -6.5, values, 0.5, time.time(), 0.0, 0.0))
        audio = recorder.audio()
        time.sleep(0.5)  # the last lines sclang posts
    text = "\n".join(sc.out.lines)
    assert "ERROR" not in text, text
    # the posted voice settings follow the mapping in the script (and in the Pd patch), and the final
    # estimates and hits are posted with their own values
    for hit_id, values in HITS.items():
        voice = re.search(rf"drumtimbre-voice: {hit_id} (.*)", text)
        cutoff, decay_ms, noise, drive = (float(v) for v in voice.group(1).split())
        assert cutoff == pytest.approx(200 + values[2] * 7800, rel=1e-4)
        assert decay_ms == pytest.approx(40 + values[1] * 600, rel=1e-4)
        assert noise == pytest.approx(values[3], abs=1e-4)
        assert drive == pytest.approx(1 + values[0] * 9, rel=1e-4)
        assert re.search(rf"hit {hit_id} at {1.5 + hit_id:g} s, peak -6.5 dBFS", text), text
        timbre = re.search(rf"hit {hit_id} timbre \[(.*)\]", text)
        assert timbre and np.allclose([float(v) for v in timbre.group(1).split(",")], values, atol=0.006), text
    # and so does the sound: one burst per hit (so none from a final estimate), each shaped by its timbre
    bursts = _bursts(audio)
    assert len(bursts) == len(HITS), [b.size / RATE for b in bursts]
    b = dict(zip(HITS, bursts))
    assert _centroid_hz(b[0]) > 2 * _centroid_hz(b[1]), (_centroid_hz(b[0]), _centroid_hz(b[1]))  # brightness
    assert b[1].size > 3 * b[0].size, (b[0].size / RATE, b[1].size / RATE)  # depth
    assert _flatness(b[0]) > 10 * _flatness(b[2]), (_flatness(b[0]), _flatness(b[2]))  # roughness
    assert _share_above(b[3]) > 10 * _share_above(b[2]), (_share_above(b[3]), _share_above(b[2]))  # hardness
