"""The SuperCollider example, run headless: sclang evaluates it, scsynth plays through a JACK dummy server,
hits sent by drumtimbre's own OSC sender sound, and their timbre shapes the sound."""
from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from realtime.engine import Estimate
from realtime.osc_out import OscOut
from tests.jack_harness import JackServer, free_udp_port, missing_jack_tools

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "drumtimbre_voice.scd"
RATE = 48000


def _missing() -> str | None:
    for tool, package in (("sclang", "supercollider-language"), ("scsynth", "supercollider-server")):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian package {package})"
    return missing_jack_tools()


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


class Sclang:
    """sclang evaluating the example with its server on `server_port`, its output lines in a queue."""

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
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.proc = subprocess.Popen(["sclang", str(wrapper)], env=env, cwd=home, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip())

    def wait_for(self, pattern: str, timeout: float) -> re.Match | None:
        end = time.time() + timeout
        while time.time() < end:
            for line in self.seen:
                if m := re.search(pattern, line):
                    return m
            try:
                self.seen.append(self.lines.get(timeout=0.05))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    return None
        return None

    def drain(self, seconds: float) -> None:
        """Collect output lines for `seconds` more."""
        self.wait_for(r"(?!)", seconds)

    def stop(self):
        # scsynth is sclang's child: ask it to quit first, or it outlives sclang
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"/quit\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", self.server_port))
        time.sleep(0.3)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in _scsynth_pids(self.server_port):
            os.kill(pid, 9)


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


def _centroid_hz(x: np.ndarray) -> float:
    mag = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    return float((f * mag).sum() / mag.sum())


def test_supercollider_example_plays_a_voice_per_hit_shaped_by_its_timbre(tmp_path):
    jack = JackServer(rate=RATE, period=256)
    sc = recorder = None
    try:
        sc = Sclang(jack, free_udp_port(), tmp_path / "home")
        ready = sc.wait_for(r"drumtimbre voice ready on port (\d+)", 90)
        assert ready, "\n".join(sc.seen[-40:])
        assert jack.wait_port("SuperCollider:out_1", 10), "scsynth has no JACK output port"
        recorder = Recorder(jack, "SuperCollider:out_1")
        out = OscOut([f"127.0.0.1:{ready.group(1)}"])
        # hardness, depth, brightness, roughness, warmth, sharpness, boominess
        bright_short = np.array([0.3, 0.05, 0.95, 0.5, 0.5, 0.5, 0.5])
        dark_long = np.array([0.3, 0.9, 0.02, 0.5, 0.5, 0.5, 0.5])
        for hit_id, values in ((0, bright_short), (1, dark_long)):
            for kind in ("early", "final"):
                out(Estimate(kind, hit_id, 1.5 + hit_id, -6.5, values, 0.5, time.time(), 0.0, 0.0))
            assert sc.wait_for(rf"drumtimbre-voice: {hit_id} ", 10), "\n".join(sc.seen[-20:])
            time.sleep(1.2)  # the long voice decays in 0.6 s: the two are apart in the recording
        audio = recorder.audio()
        sc.drain(0.5)
    finally:
        if recorder is not None:
            recorder.close()
        if sc is not None:
            sc.stop()
        jack.stop()
    text = "\n".join(sc.seen)
    assert "ERROR" not in text, text
    # the posted voice settings follow the mapping in the script (and in the Pd patch)
    for hit_id, values in ((0, bright_short), (1, dark_long)):
        voice = re.search(rf"drumtimbre-voice: {hit_id} (.*)", text)
        cutoff, decay_ms, noise, drive = (float(v) for v in voice.group(1).split())
        assert cutoff == pytest.approx(200 + values[2] * 7800, rel=1e-4)
        assert decay_ms == pytest.approx(40 + values[1] * 600, rel=1e-4)
        assert noise == pytest.approx(values[3], abs=1e-4)
        assert drive == pytest.approx(1 + values[0] * 9, rel=1e-4)
        assert re.search(rf"hit {hit_id} at 1\.5|hit {hit_id} at 2\.5", text), text
        assert re.search(rf"hit {hit_id} timbre \[", text), text
    # and so does the sound: one burst per hit, the bright one brighter, the deep one longer
    bursts = _bursts(audio)
    assert len(bursts) == 2, [b.size / RATE for b in bursts]
    first, second = bursts
    assert _centroid_hz(first) > 2 * _centroid_hz(second), (_centroid_hz(first), _centroid_hz(second))
    assert second.size > 3 * first.size, (first.size / RATE, second.size / RATE)
