"""Audio preparation: one function used by labelling, training and prediction.

Any file soundfile decodes (wav, flac, ogg, aiff, ...), any rate and channel
count -> mono, 16 kHz (soxr, high quality), at most 1 s, peak-normalised.
The model input is that clip zero-padded to 16,000 samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from encoder.descriptors import PEAK, SAMPLE_RATE, WINDOW_SAMPLES

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".mp3", ".opus", ".w64", ".caf")

SILENCE_PEAK = 1e-4
"""Peaks below this (-80 dBFS) count as silence: 16-bit "silence" with dither (+-2 steps, -84 dBFS) too."""


class AudioError(ValueError):
    """Audio that cannot be prepared; the message names the source and reason."""

    def __init__(self, source: str | Path, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


@dataclass(frozen=True)
class Clip:
    """A prepared clip: mono float32 at 16 kHz, <= 1 s, peak-normalised."""

    samples: np.ndarray
    source_rate: int
    source_peak: float
    """Peak of the mono mix after resampling to 16 kHz and cutting to `max_samples`, before normalisation;
    linear full scale."""


def sf_name(path: str | Path) -> str | bytes:
    """`path` as soundfile should be given it: any name the system allows, one that is not valid UTF-8 too (e.g.
    Latin-1 names from an old archive): soundfile encodes a str name strictly, so such a name is given as its
    bytes."""
    import os
    import sys

    name = str(path)
    if os.name != "nt":  # (on Windows soundfile opens a str as wide characters)
        try:
            name.encode(sys.getfilesystemencoding())
        except UnicodeEncodeError:
            return os.fsencode(name)
    return name


UNKNOWN_FRAMES = 2 ** 62
"""libsndfile's length of a stream whose header leaves it unknown (a FLAC written to a pipe): 2**63 - 1 frames."""


def length_unknown(frames: int) -> bool:
    """Whether libsndfile's frame count `frames` stands for a length the file's header leaves unknown."""
    return frames >= UNKNOWN_FRAMES


def read_without_seeking(f) -> None:
    """Have soundfile read the open SoundFile `f` (this object only) without seeking when its length is unknown:
    soundfile tells and seeks around every read, and libsndfile cannot at such a stream's end (the read that
    reached it failed, losing its frames)."""
    if length_unknown(f.frames):
        f.seekable = lambda: False


def read(path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode a file -> (float64 samples of shape (frames, channels), rate in Hz); any name (`sf_name`).

    `max_seconds`: decode only the file's first this many seconds (what a 1 s window needs, from a long take or a
    stream whose header leaves its length unknown; libsndfile then reports 2**63 - 1 frames)."""
    try:
        if max_seconds is None:
            data, rate = sf.read(sf_name(path), dtype="float64", always_2d=True)
        else:
            with sf.SoundFile(sf_name(path)) as f:
                rate = f.samplerate
                read_without_seeking(f)
                data = f.read(int(math.ceil(max_seconds * rate)), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError, TypeError)
        raise AudioError(path, f"cannot decode audio ({exc})") from exc
    return data, int(rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> (frames,) mean of channels, float64."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2:
        return samples.mean(axis=1)
    if samples.ndim != 1:
        raise ValueError(f"expected 1-D or 2-D audio, got shape {samples.shape}")
    return samples


def resample(mono: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Resample mono audio from `rate` to `target` Hz with soxr HQ (librosa's default)."""
    if rate == target:
        return np.asarray(mono, dtype=np.float64)
    return soxr.resample(np.asarray(mono, dtype=np.float64), rate, target, quality="HQ")


def prepare(samples: np.ndarray, rate: int, source: str | Path = "<array>",
            max_samples: int = WINDOW_SAMPLES) -> Clip:
    """Any audio -> mono, 16 kHz, cut to `max_samples` (1 s), peak-normalised to 0.99.

    `samples` is (frames,) or (frames, channels) at `rate` Hz.  Raises
    AudioError naming `source` for empty, silent or non-finite audio.
    """
    samples = np.asarray(samples)
    if rate <= 0:
        raise AudioError(source, f"invalid sample rate {rate} Hz")
    if samples.size == 0:
        raise AudioError(source, "empty audio (0 samples)")
    if not np.all(np.isfinite(samples)):
        raise AudioError(source, "audio contains NaN or infinite samples")
    mono = to_mono(samples)
    x = resample(mono, rate)[:max_samples]
    if x.size == 0:
        raise AudioError(source, "empty audio after resampling")
    peak = float(np.max(np.abs(x)))
    if peak < SILENCE_PEAK:
        raise AudioError(source, f"silent audio (peak {peak:.2e} < {SILENCE_PEAK:.0e})")
    if float(np.ptp(mono)) < 2 * SILENCE_PEAK:  # a constant offset (or one sample): no sound, whatever its level
        raise AudioError(source, f"no sound: every sample is {float(np.mean(mono)):.3g} within "
                                 f"{SILENCE_PEAK:g} (a constant offset)")
    return Clip((x * (PEAK / peak)).astype(np.float32), rate, peak)


def load(path: str | Path) -> Clip:
    """Decode and prepare a file (see `prepare`)."""
    data, rate = read(path)
    return prepare(data, rate, source=path)


def _quiet_end(x: np.ndarray, n: int) -> np.ndarray:
    """The first or the last `n` samples of `x` (at most half of it), whichever varies less."""
    n = max(1, min(n, x.size // 2 or 1))
    head, tail = x[:n], x[-n:]
    return head if np.std(head) <= np.std(tail) else tail


def dc_offset(x: np.ndarray, n: int = 64) -> float:
    """A one-shot's DC offset (full-scale units): the median of its quieter end (the first or the last `n` samples,
    whichever varies less).  Not the start alone: many files begin right on the attack, where the median is part
    of the hit; removing it would add an offset that the fade-out later turns into a swell."""
    return float(np.median(_quiet_end(np.asarray(x), n)))


DC_WARN = 0.05
"""A DC offset over this fraction of a one-shot's peak is named (none of the Debian kits' one-shots has one; 8 of
them are named clipped, distorted kicks among them)."""
FLAT_S = 0.0002
"""Clipping: a run of equal samples at the peak at least this long (s; and at least 4 samples) is named (a low
kick's crest holds 2-3 equal 16-bit samples at 48 kHz without being clipped)."""


def input_warnings(samples: np.ndarray, rate: int) -> list[str]:
    """What may mislead the model about a one-shot, which it never met in training, as text ([] for none): a DC
    offset over DC_WARN of the peak (the median of the quieter 50 ms end, steady there: over 3 x its spread); a
    flat top (clipping).  `samples`: (frames,) or (frames, channels) at `rate` Hz, before any preparation."""
    mono = to_mono(samples)
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if not (peak > 0 and np.isfinite(peak)):
        return []
    out = []
    quiet = _quiet_end(mono, max(16, rate // 20))  # 50 ms: a period of 20 Hz, so a low ring is no offset
    dc = float(np.median(quiet))
    if abs(dc) > DC_WARN * peak and abs(dc) > 3 * float(np.std(quiet)):  # an offset, steady there
        out.append(f"DC offset {dc:+.3g} ({100 * abs(dc) / peak:.0f} % of its peak; the model never met one: "
                   "analyze and listen remove it, predict does not)")
    at_peak = np.abs(mono) >= peak * (1 - 1e-7)
    flat = at_peak[1:] & at_peak[:-1] & (mono[1:] == mono[:-1])  # sample i+1 equals sample i, both at the peak
    if flat.any():
        edges = np.diff(np.concatenate([[0], flat.astype(np.int8), [0]]))
        longest = int(np.max(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))) + 1  # samples
        if longest >= max(4, FLAT_S * rate):
            out.append(f"clipped: {longest} equal samples in a row at its peak ({peak:.3g} x full scale); the "
                       "descriptors of a clipped hit are those of the clipped sound")
    return out


def pad(clip: np.ndarray, length: int = WINDOW_SAMPLES) -> np.ndarray:
    """Zero-pad (or cut) a prepared clip to `length` samples, float32."""
    out = np.zeros(length, dtype=np.float32)
    n = min(length, len(clip))
    out[:n] = clip[:n]
    return out


def model_input(path: str | Path) -> np.ndarray:
    """A file as the model sees it: prepared and zero-padded, shape (16000,)."""
    return pad(load(path).samples)


def find_audio(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of audio files.

    Symbolic links to folders are followed (a kit linked into a library is labelled like one copied there), each
    real folder once per given folder: a link back up the tree, or a second link to a folder already walked,
    adds nothing.  Files are named by the path under the given folder, not by where their links lead."""
    import os

    def walk(top: Path) -> list[Path]:
        found: list[Path] = []
        seen: set[str] = set()
        stack = [top]
        while stack:
            folder = stack.pop()
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:  # unreadable or vanished (as rglob, which skips such folders)
                continue
            subfolders = []
            for e in entries:
                path = folder / e.name
                try:
                    if e.is_dir():  # follows a link
                        subfolders.append(path)
                    elif e.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
                        found.append(path)
                except OSError:
                    continue
            stack.extend(reversed(subfolders))  # walked in name order: of two links to one folder, the first
        return sorted(found)

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(walk(p))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out
