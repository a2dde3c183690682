"""The reference labeller: AudioCommons timbral descriptors of a prepared clip.

Labels are computed on the prepared clip (mono, 16 kHz, <= 1 s, peak 0.99)
stored as 16-bit PCM, exactly as a WAV file of it would be read, and never on
the zero-padded model input: padding shifts roughness, warmth and boominess
by several points.  About 0.3 s a clip on one core.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from encoder import audio
from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, clip_points


def quantise_pcm16(clip: np.ndarray) -> np.ndarray:
    """Round-trip float audio through 16-bit PCM WAV, as the dataset's files were read."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(clip, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    buf.seek(0)
    data, _ = sf.read(buf, dtype="float64")
    return data


def label_clip(clip: np.ndarray) -> np.ndarray:
    """AudioCommons descriptors (7,) in points 0-100 of a prepared 16 kHz clip.

    Same as `timbral_extractor(wav_of_clip, clip_output=True)` without reverb.
    Raises ValueError when timbral_models cannot analyse the clip.
    """
    from encoder.timbral_compat import timbral_models

    tm = timbral_models()
    x = quantise_pcm16(clip)
    if not np.any(x):
        raise ValueError("silent after 16-bit quantisation")
    functions = {
        "hardness": tm.timbral_hardness, "depth": tm.timbral_depth, "brightness": tm.timbral_brightness,
        "roughness": tm.timbral_roughness, "warmth": tm.timbral_warmth, "sharpness": tm.timbral_sharpness,
        "boominess": tm.timbral_booming,
    }
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        x44, fs = tm.timbral_util.check_upsampling(tm.timbral_util.channel_reduction(x), SAMPLE_RATE)
        values = []
        for name in DESCRIPTORS:
            try:
                values.append(float(functions[name](x44, fs=fs, clip_output=True)))
            except Exception as exc:  # their own errors say nothing of why ("index 0 is out of bounds ...")
                raise ValueError(f"timbral_models' {name} failed on this {1000 * x.size / SAMPLE_RATE:.0f} ms clip "
                                 f"({type(exc).__name__}: {exc}){'; too short to label?' if x.size < 1600 else ''}"
                                 ) from exc
    out = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = [n for n, v in zip(DESCRIPTORS, out) if not np.isfinite(v)]
        raise ValueError(f"timbral_models returned non-finite {', '.join(bad)}")
    return clip_points(out)


def label_file(path: str | Path) -> np.ndarray:
    """AudioCommons descriptors (7,) of an audio file, prepared with `encoder.audio.load`."""
    return label_clip(audio.load(path).samples)
