"""Test harness: a private JACK dummy server, OSC receivers (oscdump, Pd) and subprocess helpers.

See /work/shared/notes/realtime-test-harness.md: every server gets a name no
other test process holds and no running server has (SERVER_NAMES), and every
client JACK_DEFAULT_SERVER / JACK_NO_START_SERVER, so parallel tests never
share a server.
"""
from __future__ import annotations

import ctypes.util
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PD_PATCH = REPO / "examples" / "drumtimbre_voice.pd"
DRUMTIMBRE = [str(REPO / ".venv" / "bin" / "drumtimbre")] if (REPO / ".venv" / "bin" / "drumtimbre").exists() \
    else ["python", "-m", "drumtimbre.cli"]


def missing_jack_tools() -> str | None:
    """Why the JACK tests cannot run here, or None."""
    for tool, package in (("jackd", "jackd2"), ("sndfile-jackplay", "sndfile-tools")):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian package {package})"
    if ctypes.util.find_library("portaudio") is None:
        return "PortAudio not installed (Debian package libportaudio2)"
    try:
        import jack  # noqa: F401
    except Exception as exc:  # JACK-Client needs libjack
        return f"JACK-Client not usable ({exc})"
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LineReader:
    """A subprocess whose output lines (`stream`: its stdout, its stderr, or "both" merged) are collected by a
    reader thread into `lines`."""

    def __init__(self, argv: list[str], env: dict | None = None, stream: str = "stdout", cwd=None):
        stdout, stderr = {"stdout": (subprocess.PIPE, subprocess.DEVNULL), "stderr": (subprocess.DEVNULL, subprocess.PIPE),
                          "both": (subprocess.PIPE, subprocess.STDOUT)}[stream]
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                     text=True)
        self.lines: list[str] = []
        self._ended = threading.Event()
        pipe = self.proc.stderr if stream == "stderr" else self.proc.stdout
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line.rstrip("\n"))
        self._ended.set()

    def wait_for(self, pattern: str, timeout: float) -> re.Match | None:
        """The first line so far matching `pattern` (re.search), waiting up to `timeout` s for one; None if none
        came (or the output ended without one)."""
        end, seen = time.time() + timeout, 0
        while True:
            ended = self._ended.is_set()
            new = self.lines[seen:]
            for line in new:
                if m := re.search(pattern, line):
                    return m
            seen += len(new)
            if ended or time.time() >= end:
                return None
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


SERVER_NAMES = tuple(f"drumtimbre-test{i}" for i in range(6))
"""The names the harness's JACK servers take, the first one free.  The same names serve every run: JACK's
server registry (/dev/shm) has 8 slots and frees a dead server's slot only when a server of the same name
starts, so a new name per run let servers killed with SIGKILL fill it for good.  A name is free when no other
test process holds its lock file and no server of that name answers (one left by a killed run)."""


def _answers(name: str) -> bool:
    """True when a JACK server named `name` accepts a client."""
    import jack

    try:
        jack.Client(f"probe{os.getpid()}", servername=name, no_start_server=True).close()
        return True
    except jack.JackOpenError:
        return False


class JackServer:
    """`jackd -n NAME -d dummy -r RATE -p PERIOD`, NAME the first free one of SERVER_NAMES."""

    def __init__(self, rate: int = 48000, period: int = 256):
        self.client = None
        self._lock = None
        for name in SERVER_NAMES:
            if self._claim(name):
                self._start(name, rate, period)
                return
        raise RuntimeError(f"JACK server names {', '.join(SERVER_NAMES)} are all in use (by other test runs, "
                           f"or by servers they left running)")

    def _claim(self, name: str) -> bool:
        """Lock `name` for this server's life; False when another process holds it or a server answers to it."""
        lock = open(Path(tempfile.gettempdir()) / f"{name}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return False
        if _answers(name):
            lock.close()
            return False
        self._lock = lock
        return True

    def _start(self, name: str, rate: int, period: int) -> None:
        """Start jackd as `name` (claimed) and connect a client to it; on failure nothing is left running."""
        self.name = name
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
        argv = ["jackd", "-n", name]
        if os.geteuid() != 0:
            argv.append("--no-realtime")
        argv += ["-d", "dummy", "-r", str(rate), "-p", str(period)]
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=self._stderr)
        try:
            self._connect()
        except BaseException:
            self.stop()
            raise

    def _failure(self, what: str) -> RuntimeError:
        """`what`, with jackd's own last words and, for a full server registry, what clears it."""
        self._stderr.seek(0)
        said = " / ".join(line.strip() for line in self._stderr.read().splitlines()[-4:] if line.strip())
        hint = ""
        if "Too many servers" in said:
            hint = (" (JACK's server registry in /dev/shm is full of entries left by jackd processes that were"
                    " killed with SIGKILL; with no jackd running, `rm -rf /dev/shm/jack*` clears it)")
        return RuntimeError(f"{what}: jackd said: {said or 'nothing'}{hint}")

    def _connect(self, timeout: float = 10.0) -> None:
        import jack

        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise self._failure(f"jackd exited with {self.proc.returncode}")
            try:
                self.client = jack.Client(f"probe{os.getpid()}", servername=self.name, no_start_server=True)
            except jack.JackOpenError:
                time.sleep(0.01)
                continue
            if self.proc.poll() is not None:  # the client reached another server of that name
                raise self._failure(f"jackd exited with {self.proc.returncode}")
            return
        raise self._failure(f"jackd {self.name} did not start in {timeout} s")

    def wait_port(self, name: str, timeout: float = 15.0) -> bool:
        """Wait until a port named `name` (e.g. 'PortAudio:in_0') exists."""
        end = time.time() + timeout
        while time.time() < end:
            if any(p.name == name for p in self.client.get_ports()):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
            self.client = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        if self._lock is not None:
            self._lock.close()  # the name is free again
            self._lock = None


def oscdump(port: int) -> LineReader:
    """liblo's oscdump on UDP `port`, lines like '<timetag> /drumtimbre/timbre iffffff 3 0.5 ...'."""
    return LineReader(["oscdump", "-L", str(port)])


def pd_patch(port: int) -> LineReader:
    """The example Pd patch listening on `port`; its prints arrive on stderr."""
    return LineReader(["pd", "-nogui", "-nosound", "-nomidi", "-noprefs", "-stderr",
                       "-send", f"drumtimbre-port {port}", str(PD_PATCH)], stream="stderr")


def parse_oscdump(lines: list[str], address: str) -> list[list[str]]:
    """Arguments (as strings) of every message to `address` in oscdump output."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == address:
            out.append(parts[3:])
    return out


def drum_pattern(seconds: float, hits_per_s: float = 4.0, rate: int = 48000, lead: float = 0.5,
                 tail: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """kick, hat, snare, hat, ... at `hits_per_s` from `lead` s -> (mono float32, true onset times in s).

    Generated drums (tests/signals.py) with known onsets; the last hit is
    `tail` s before the end so its whole window is in the file.
    """
    from tests.signals import hat, kick, snare

    n = int(round(seconds * rate))
    audio = np.zeros(n, dtype=np.float32)
    makers = [kick, hat, snare, hat]
    times = np.arange(lead, seconds - tail, 1.0 / hits_per_s)
    for k, t in enumerate(times):
        s = makers[k % 4](rate, seed=k % 16)
        i = int(round(t * rate))
        m = min(s.size, n - i)
        audio[i:i + m] += s[:m] * (0.5 if k % 2 else 0.8)
    return np.clip(audio, -1.0, 1.0), times


def write_pattern(path, seconds: float, hits_per_s: float = 4.0, rate: int = 48000, **kw) -> np.ndarray:
    """Write `drum_pattern` to a float WAV at `path`; returns the true onset times (s)."""
    import soundfile as sf

    audio, times = drum_pattern(seconds, hits_per_s, rate, **kw)
    sf.write(str(path), audio, rate, subtype="FLOAT")
    return times


def default_sigint() -> None:
    """Popen preexec_fn: the child gets the default SIGINT action (a shell ignores it for background jobs)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
