"""The descriptor contract: names, order, units and normalisation.

AudioCommons timbral descriptors are in points, 0-100 (clipped, as in the
Freesound One-Shot Percussive Sounds analysis).  Models regress them min-max
normalised to 0-1 with the dataset's own ranges over its 10,246 complete
records.  Every part of drumtimbre takes names, order and ranges from here.
"""
from __future__ import annotations

import numpy as np

DESCRIPTORS: tuple[str, ...] = (
    "hardness",
    "depth",
    "brightness",
    "roughness",
    "warmth",
    "sharpness",
    "boominess",
)

#: (min, max) in AudioCommons points over the dataset's 10,246 complete records.
RANGES: dict[str, tuple[float, float]] = {
    "hardness": (11.586026, 82.596457),
    "depth": (0.140980, 100.0),
    "brightness": (10.874446, 84.309024),
    "roughness": (0.0, 77.090665),
    "warmth": (7.696248, 78.870422),
    "sharpness": (0.0, 92.585410),
    "boominess": (0.0, 71.482249),
}

SAMPLE_RATE: int = 16000
"""Model and labeller sample rate, Hz."""
WINDOW_SAMPLES: int = 16000
"""Model input length, samples (1 s at 16 kHz)."""
PEAK: float = 0.99
"""Peak level after normalisation, linear full scale."""

MINS = np.array([RANGES[n][0] for n in DESCRIPTORS], dtype=np.float64)
MAXS = np.array([RANGES[n][1] for n in DESCRIPTORS], dtype=np.float64)


def clip_points(values: np.ndarray) -> np.ndarray:
    """Clip AudioCommons values to their 0-100 scale."""
    return np.clip(np.asarray(values, dtype=np.float64), 0.0, 100.0)


def normalise(points: np.ndarray) -> np.ndarray:
    """AudioCommons points (..., 7) -> normalised 0-1 units (not clipped)."""
    points = np.asarray(points, dtype=np.float64)
    return (points - MINS) / (MAXS - MINS)


def denormalise(norm: np.ndarray) -> np.ndarray:
    """Normalised units (..., 7) -> AudioCommons points (not clipped)."""
    norm = np.asarray(norm, dtype=np.float64)
    return norm * (MAXS - MINS) + MINS


def points_per_unit() -> np.ndarray:
    """Size of one normalised unit in AudioCommons points, per descriptor."""
    return MAXS - MINS
