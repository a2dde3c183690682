"""Generated drum sounds with known properties, for tests."""
from __future__ import annotations

import numpy as np


def kick(rate: int = 44100, seconds: float = 0.6, f0: float = 55.0, seed: int = 0) -> np.ndarray:
    """A sine kick: pitch sweep from 3*f0 down to f0, exponential decay (~0.12 s)."""
    t = np.arange(int(rate * seconds)) / rate
    freq = f0 + 2 * f0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    click = np.random.default_rng(seed).standard_normal(t.size) * np.exp(-t / 0.002) * 0.2
    return (np.sin(phase) * np.exp(-t / 0.12) + click).astype(np.float32)


def hat(rate: int = 44100, seconds: float = 0.3, decay: float = 0.04, seed: int = 0) -> np.ndarray:
    """A hi-hat: high-passed white noise (first difference, twice), fast decay."""
    n = int(rate * seconds)
    noise = np.random.default_rng(seed).standard_normal(n + 2)
    bright = np.diff(noise, n=2)
    t = np.arange(n) / rate
    return (bright * np.exp(-t / decay) * 0.3).astype(np.float32)


def snare(rate: int = 44100, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """A snare: 190 Hz body plus noise, both decaying."""
    t = np.arange(int(rate * seconds)) / rate
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return ((np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.06) + 0.6 * noise * np.exp(-t / 0.09)) * 0.5).astype(np.float32)


def swelling_snare(rate: int = 44100, seconds: float = 0.4, seed: int = 0) -> np.ndarray:
    """A snare whose stick click comes first (1.5 ms at half its peak, then 12 %) and whose body swells to its peak 10 ms
    in (a sampled snare of the 1990s: the Synthesis ToolKit's), then decays (60 ms); peak 1."""
    t = np.arange(int(rate * seconds)) / rate
    env = np.where(t < 0.0015, 0.5, 0.12) + np.where(t < 0.010, np.exp(-((t - 0.010) / 0.003) ** 2),
                                                      np.exp(-(t - 0.010) / 0.06))
    x = env * (0.5 * np.sin(2 * np.pi * 190 * t) + np.random.default_rng(seed).standard_normal(t.size))
    return (x / np.max(np.abs(x))).astype(np.float32)


def write_unknown_length_flac(audio: np.ndarray, rate: int, path) -> None:
    """`audio` as 24-bit FLAC at `path` whose header leaves its length (and MD5) unknown, as an encoder writing to a
    pipe leaves it: libsndfile then reports 2**63 - 1 frames."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="FLAC", subtype="PCM_24")
    data = bytearray(buf.getvalue())  # fLaC, then STREAMINFO's block header (4 bytes) and body
    v = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1)  # total samples: the low 36 bits of these 8 bytes
    data[18:26] = v.to_bytes(8, "big")
    data[26:42] = bytes(16)
    with open(path, "wb") as f:
        f.write(bytes(data))


def write_undecodable(folder) -> tuple:
    """Two files whose headers read (soundfile.info gives their frames) but whose audio fails when decoded, as
    broken downloads do: (a WAV of a real hit with its samples zeroed, as a preallocating downloader leaves it;
    a FLAC of a real hit with 2,000 bytes mid-stream overwritten) -> their paths."""
    from pathlib import Path

    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    silent, corrupt = folder / "zeroed.wav", folder / "corrupt.flac"
    sf.write(silent, hat(16000, 0.5), 16000, subtype="PCM_16")
    b = bytearray(silent.read_bytes())
    b[44:] = bytes(len(b) - 44)  # the 44-byte header intact
    silent.write_bytes(bytes(b))
    sf.write(corrupt, hat(16000, 1.0, decay=0.3), 16000)
    b = bytearray(corrupt.read_bytes())
    b[len(b) // 2:len(b) // 2 + 2000] = b"\xff" * 2000
    corrupt.write_bytes(bytes(b))
    assert sf.info(silent).frames == 8000 and sf.info(corrupt).frames == 16000
    return silent, corrupt
