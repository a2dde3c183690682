"""Audio sources feeding the engine: a file (fast or at real-time pace) or a device.

Every source writes raw blocks (frames, channels) float32 into a `BlockRing`;
the engine's worker thread reads them from there.  The device callback only
copies into the preallocated ring: no locks, no waiting, no big allocations.
PortAudio (sounddevice) is imported only when a device is used.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PORTAUDIO_HINT = ("PortAudio is not available: install the system library "
                  "(Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install portaudio) "
                  "and the Python package sounddevice")


class SourceError(RuntimeError):
    """A source that cannot start or stopped unexpectedly (device gone, PortAudio missing, bad file)."""


def import_sounddevice():
    """Import sounddevice, or raise SourceError naming what to install."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise SourceError(f"{PORTAUDIO_HINT} ({exc})") from exc
    return sd


@dataclass(frozen=True)
class Block:
    """The blocks read from the ring at once, joined."""

    data: np.ndarray
    """(frames, channels) float32 copy."""
    t_arrival: float
    """perf_counter() when the (last) block arrived (audio callback / file reader)."""
    wall_arrival: float
    """time.time() at the same moment."""
    parts: tuple[tuple[int, float], ...] = ()
    """(frames, perf_counter() at arrival) of each block joined in `data`, oldest first."""


class BlockRing:
    """Single-producer single-consumer ring of audio frames.

    `write` never blocks: when the consumer is more than `capacity` frames
    behind, the block is dropped and counted in `overflows`/`dropped_frames`.
    The reader asks for at least `min_frames` and sleeps until they are there:
    the writer wakes it only then (one wake-up per group of blocks, not per block).
    """

    def __init__(self, capacity_frames: int, channels: int):
        self.capacity = int(capacity_frames)
        self.channels = int(channels)
        self._buf = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._bytes = memoryview(self._buf).cast("B")  # the same memory, for raw input
        self._frame_bytes = 4 * self.channels
        self._notes: queue.SimpleQueue = queue.SimpleQueue()  # wake-ups for the reader; None: closed
        self._arrivals: deque = deque()  # (end frame, perf_counter()) of each block written and not read
        self._due = 1  # the reader wants waking when this many frames have been written
        self._written = 0  # frames, producer only
        self._read = 0  # frames, consumer only
        self._wall_offset = time.time() - time.perf_counter()
        self._last_write = -math.inf  # perf_counter() of the last block written
        self.overflows = 0
        """Blocks dropped because the ring was full."""
        self.dropped_frames = 0
        self.xruns = 0
        """Blocks whose PortAudio status flags reported an over/underflow."""
        self.xrun_frames: deque = deque(maxlen=1000)
        """The frame count written before each of those blocks (the latest 1000): where in the stream."""
        self.closed = False

    def space(self) -> int:
        """Frames that can be written now."""
        return self.capacity - (self._written - self._read)

    def write(self, data, t_arrival: float | None = None, xrun: bool = False) -> bool:
        """Copy a block in: a (frames, channels) array, or any buffer holding its frames as interleaved float32
        (what sounddevice's RawInputStream hands its callback: copied as bytes, no array made), arrived at
        `t_arrival` (perf_counter() s; None: now), `xrun` flagged by the audio API; False (and counted) when full."""
        t = time.perf_counter() if t_arrival is None else t_arrival
        if xrun:
            self.xruns += 1
            self.xrun_frames.append(self._written)
        raw = None if isinstance(data, np.ndarray) else memoryview(data).cast("B")
        n = data.shape[0] if raw is None else raw.nbytes // self._frame_bytes
        if n > self.space():
            self.overflows += 1
            self.dropped_frames += n
            return False
        before = self._written
        i = before % self.capacity
        first = min(n, self.capacity - i)
        if raw is None:
            self._buf[i:i + first] = data[:first]
            if first < n:
                self._buf[:n - first] = data[first:]
        else:
            fb = self._frame_bytes
            self._bytes[i * fb:(i + first) * fb] = raw[:first * fb]
            if first < n:
                self._bytes[:(n - first) * fb] = raw[first * fb:n * fb]
        # the arrival first, then the count, then the reader's wish: a reader that sees the count finds the
        # arrival, and one that set its wish before this write is woken by it (no wake-up is lost)
        self._arrivals.append((before + n, t))
        self._last_write = t
        self._written = before + n
        if before < self._due <= before + n:
            self._notes.put(True)
        return True

    def quiet_for(self) -> float:
        """Seconds since the last block was written (inf before the first)."""
        return time.perf_counter() - self._last_write

    def close(self) -> None:
        """Mark the end of the stream (the reader drains what is left, then gets None)."""
        self.closed = True
        self._notes.put(None)

    def read(self, timeout: float | None = None, min_frames: int = 1, max_frames: int = 1) -> Block | None | bool:
        """The next blocks, joined, once at least `min_frames` frames are unread (fewer at the end of the
        stream): whole blocks, those holding the first `min_frames` frames and as many more as fit in
        `max_frames`; None at the end of the stream; False on timeout (nothing is lost: the frames stay for
        the next read).  `timeout`: s (None: wait as long as it takes)."""
        self._due = self._read + max(1, int(min_frames))
        if self._written < self._due and not self.closed:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._written < self._due and not self.closed:  # a stale wake-up: sleep again
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return False
                try:
                    self._notes.get(timeout=wait)
                except queue.Empty:
                    return False
        written = self._written
        if written == self._read:
            return None  # closed, all read
        start = end = self._read
        parts = []
        arrivals = self._arrivals
        # the blocks holding the frames waited for, then more while they fit in max_frames
        while arrivals and arrivals[0][0] <= written and (end < self._due or arrivals[0][0] - start <= max_frames):
            block_end, t = arrivals.popleft()
            parts.append((block_end - end, t))
            end = block_end
        n, i = end - start, start % self.capacity
        if i + n <= self.capacity:
            data = self._buf[i:i + n].copy()
        else:
            data = np.concatenate([self._buf[i:], self._buf[:n - (self.capacity - i)]])
        self._read = end
        t = parts[-1][1]
        return Block(data, t, t + self._wall_offset, tuple(parts))


def read_blocks(f, block_size: int):
    """An open soundfile.SoundFile's audio -> float32 (frames, channels) blocks of `block_size` frames (the last
    may be shorter); a stream of unknown length read without seeking (encoder.audio.read_without_seeking)."""
    from encoder.audio import length_unknown, read_without_seeking

    if not length_unknown(f.frames):
        yield from f.blocks(blocksize=block_size, dtype="float32", always_2d=True)
        return
    read_without_seeking(f)
    while True:
        block = f.read(block_size, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            return
        yield block


def parse_channels(spec: str | list[int] | tuple[int, ...] | None) -> tuple[int, ...]:
    """'1' / '1,2' / '1 2' / [1, 2] (1-based input channel numbers, commas or spaces between) -> 0-based indices."""
    if spec is None:
        return (0,)
    items = spec if isinstance(spec, (list, tuple)) else str(spec).replace(",", " ").split()
    if not items:
        raise ValueError("input channels []: name at least one, like 1 or 1,2")
    out = []
    for item in items:
        if isinstance(item, (bool, float)):  # int(1.5) and int(True) would pass as channel 1
            raise ValueError(f"input channel {item!r}: expected channel numbers like 1 or 1,2")
        try:
            ch = int(item)
        except (TypeError, ValueError):
            raise ValueError(f"input channel {item!r}: expected channel numbers like 1 or 1,2") from None
        if ch < 1:
            raise ValueError(f"input channel {ch}: channels are numbered from 1")
        out.append(ch - 1)
    return tuple(dict.fromkeys(out))


def audio_file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be an audio file to read (naming it), or None: an empty name, no such file, a folder, or
    something that is not a regular file (a device such as /dev/null, a pipe)."""
    text = str(path)
    if not text.strip():
        return f"{text!r}: an empty file name"
    p = Path(text)
    if not p.exists():
        return f"{p}: no such file"
    if p.is_dir():
        return f"{p}: a folder, not an audio file"
    if not p.is_file():
        return f"{p}: not a regular file (a device, pipe or socket), not an audio file"
    return None


class FileSource:
    """Streams an audio file in blocks: as fast as possible, or at real-time pace."""

    kind = "file"

    def __init__(self, path: str | Path, block_size: int = 256, realtime: bool = False,
                 channels: tuple[int, ...] | None = None):
        import soundfile as sf

        from encoder.audio import length_unknown, sf_name

        problem = audio_file_problem(path)
        if problem:
            raise SourceError(problem)
        self.path = Path(path)
        try:
            info = sf.info(sf_name(self.path))
        except Exception as exc:
            raise SourceError(f"{self.path}: cannot decode audio ({exc})") from exc
        if info.frames == 0:
            from realtime.cut_short import empty_audio
            raise SourceError(f"{self.path}: {empty_audio(self.path)}")
        if block_size < 1:
            raise ValueError(f"block size {block_size}: must be >= 1 frame")
        self.sample_rate = int(info.samplerate)
        self.file_channels = int(info.channels)
        self.block_size = int(block_size)
        self.realtime = realtime
        self.mix = channels if channels is not None else tuple(range(self.file_channels))
        bad = [c + 1 for c in self.mix if c >= self.file_channels]
        if bad:
            raise SourceError(f"{self.path}: has {self.file_channels} channel(s); channel {bad[0]} requested")
        self.channels = self.file_channels
        self.duration_s = None if length_unknown(info.frames) else info.frames / self.sample_rate
        """The file's length, s; None when its header leaves it unknown."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None

    def describe(self) -> str:
        """One line for the terminal: the file, its rate (Hz), length (s) and pace."""
        pace = "real-time pace" if self.realtime else "as fast as possible"
        length = "length unknown" if self.duration_s is None else f"{self.duration_s:.1f} s"
        return f"file {self.path} ({self.sample_rate} Hz, {length}, {pace})"

    def start(self, ring: BlockRing) -> None:
        """Start the reader thread writing into `ring`; it closes the ring at the end."""
        self._thread = threading.Thread(target=self._run, args=(ring,), name="drumtimbre-file", daemon=True)
        self._thread.start()

    def _run(self, ring: BlockRing) -> None:
        import soundfile as sf

        from encoder.audio import sf_name

        from realtime.thread_names import FILE_READER, name_this_thread

        name_this_thread(FILE_READER)
        try:
            t0 = time.perf_counter()
            done = 0
            with sf.SoundFile(sf_name(self.path)) as f:
                for block in read_blocks(f, self.block_size):
                    if self._stop.is_set():
                        break
                    if self.realtime:
                        delay = t0 + (done + block.shape[0]) / self.sample_rate - time.perf_counter()
                        if delay > 0:
                            self._stop.wait(delay)
                        ring.write(block)  # like a device: drop (and count) when the worker lags
                    else:
                        while ring.space() < block.shape[0] and not self._stop.is_set():
                            time.sleep(0.001)
                        if self._stop.is_set():  # stopped while waiting for room: no block lost to count
                            break
                        ring.write(block)
                    done += block.shape[0]
            if not self._stop.is_set():
                from realtime.cut_short import wav_cut_short
                short = wav_cut_short(self.path)  # (libsndfile reads what is there and says nothing)
                if short:
                    self.error = SourceError(f"{self.path}: {short}")
        except Exception as exc:  # report through the engine, never die silently
            self.error = SourceError(f"{self.path}: read failed ({exc})")
        finally:
            ring.close()

    def check(self) -> None:
        """Raise the reader's error, if any."""
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Stop the reader thread (waits up to 2 s for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


@dataclass(frozen=True)
class InputDevice:
    """An input device as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    input_channels: int
    default_samplerate: float


def list_input_devices() -> list[InputDevice]:
    """All devices with input channels (imports PortAudio)."""
    sd = import_sounddevice()
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        if d["max_input_channels"] > 0:
            out.append(InputDevice(i, d["name"], apis[d["hostapi"]]["name"], int(d["max_input_channels"]),
                                   float(d["default_samplerate"])))
    return out


def resolve_device(device: str | int | None, host_api: str | None = None) -> InputDevice:
    """Pick an input device by index or (part of) its name, optionally within a host API (part of its name)."""
    devices = list_input_devices()
    if not devices:
        raise SourceError("no audio input devices found (is the sound server running? see `drumtimbre devices`)")
    if host_api:
        devices = [d for d in devices if host_api.lower() in d.host_api.lower()]
        if not devices:
            raise SourceError(f"no input devices on a host API matching {host_api!r} (see `drumtimbre devices`)")
    if device is None or device == "":
        if host_api:
            return devices[0]
        sd = import_sounddevice()
        default_in = sd.default.device[0]
        for d in devices:
            if d.index == default_in:
                return d
        return devices[0]
    text = str(device).strip()
    if text.isdigit():
        idx = int(text)
        for d in devices:
            if d.index == idx:
                return d
        raise SourceError(f"input device {idx}: no such input device (see `drumtimbre devices`)")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    matches = exact or [d for d in devices if text.lower() in d.name.lower()]
    if not matches:
        raise SourceError(f"input device {text!r}: no input device matches (see `drumtimbre devices`)")
    if len(matches) > 1:
        names = "; ".join(f"{d.index}: {d.name} ({d.host_api})" for d in matches)
        raise SourceError(f"input device {text!r} is ambiguous ({names}); give an index or --host-api")
    return matches[0]


class DeviceSource:
    """Live input from a PortAudio device through sounddevice."""

    kind = "device"

    def __init__(self, device: str | int | None = None, host_api: str | None = None,
                 channels: tuple[int, ...] = (0,), sample_rate: int | None = None, block_size: int = 128):
        self.device = resolve_device(device, host_api)
        if block_size < 1:
            raise ValueError(f"block size {block_size}: must be >= 1 frame")
        bad = [c + 1 for c in channels if c >= self.device.input_channels]
        if bad:
            raise SourceError(f"input device {self.device.name!r} has {self.device.input_channels} input "
                              f"channel(s); channel {bad[0]} requested")
        self.mix = tuple(channels)
        self.channels = max(self.mix) + 1
        self.sample_rate = int(sample_rate or self.device.default_samplerate)
        self.block_size = int(block_size)
        self._stream = None
        self.error: Exception | None = None
        self.hung = False

    def describe(self) -> str:
        """One line for the terminal: the device, its host API, channels, rate (Hz) and block size (frames)."""
        chans = ",".join(str(c + 1) for c in self.mix)
        return (f"device {self.device.index}: {self.device.name} ({self.device.host_api}), channel(s) {chans}, "
                f"{self.sample_rate} Hz, {self.block_size}-frame blocks")

    def start(self, ring: BlockRing) -> None:
        """Open and start the input stream.  Its audio callback only copies each block's bytes into `ring`
        (BlockRing.write: no lock, no wait, no array) with its perf_counter() arrival time, s."""
        sd = import_sounddevice()
        perf = time.perf_counter
        write = ring.write

        def callback(indata, frames, time_info, status):  # audio thread: copy only (raw bytes, no array)
            write(indata, perf(), bool(status))

        try:
            self._stream = sd.RawInputStream(device=self.device.index, channels=self.channels,
                                             samplerate=self.sample_rate, blocksize=self.block_size,
                                             dtype="float32", callback=callback,
                                             finished_callback=self._finished)
            self._stream.start()
        except Exception as exc:
            raise SourceError(f"cannot open input device {self.device.index} ({self.device.name}, "
                              f"{self.device.host_api}) at {self.sample_rate} Hz: {exc}") from exc

    def _finished(self) -> None:
        if self.error is None and self._stream is not None and not getattr(self, "_stopping", False):
            self.error = SourceError(f"input device {self.device.name!r} stopped (disconnected?)")

    def check(self) -> None:
        """Raise SourceError when the stream stopped without being asked to."""
        if self.error is not None:
            raise self.error
        if self._stream is not None and not getattr(self, "_stopping", False):
            try:
                active = self._stream.active
            except Exception as exc:
                raise SourceError(f"input device {self.device.name!r} failed ({exc})") from exc
            if not active:
                raise SourceError(f"input device {self.device.name!r} stopped (disconnected?)")

    def stop(self, timeout: float = 2.0) -> None:
        """Close the stream (guarded: closing can hang when the audio server died).

        Sets `hung` when it did not close in `timeout` s: PortAudio cannot be
        shut down cleanly then, and the caller should exit without its atexit
        handler (os._exit) rather than hang.
        """
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def close():
            try:
                stream.abort()
                stream.close()
            except Exception:
                pass

        t = threading.Thread(target=close, name="drumtimbre-close", daemon=True)
        t.start()
        t.join(timeout)
        self.hung = t.is_alive()
