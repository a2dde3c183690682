"""Keras 1-D CNN architectures: the original study's four, and our own.

Input (batch, 16000, 1): 1 s at 16 kHz, peak-normalised, zero-padded.
Output (batch, 7): the descriptors, normalised 0-1 (linear last layer).
Imports TensorFlow/Keras: use only for training, evaluation and export.
"""
from __future__ import annotations

from typing import Callable

from encoder.descriptors import DESCRIPTORS, WINDOW_SAMPLES


def _keras():
    import keras  # noqa: PLC0415  (heavy import kept out of module import)

    return keras


def _study_cnn(name: str, filters: list[int], dense: list[int], first_stride: int = 1):
    """Conv1D(k=7, 'valid', ReLU) + MaxPool(2) per entry of `filters`; Flatten; Dense ReLU layers; Dense(7)."""
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=(WINDOW_SAMPLES, 1), name="audio")
    x = inp
    for i, f in enumerate(filters):
        x = L.Conv1D(f, 7, strides=first_stride if i == 0 else 1, padding="valid", activation="relu")(x)
        x = L.MaxPooling1D(2)(x)
    x = L.Flatten()(x)
    for units in dense:
        x = L.Dense(units, activation="relu")(x)
    out = L.Dense(len(DESCRIPTORS), name="descriptors")(x)
    return keras.Model(inp, out, name=name)


def big():
    """Study 'big': Conv 100-50-20-10-4, Dense 1000-100-7 (2,122,371 parameters)."""
    return _study_cnn("big", [100, 50, 20, 10, 4], [1000, 100])


def seven_filters():
    """Study reference '7 filters': 5 x Conv 7, Dense 100-7 (348,063 parameters)."""
    return _study_cnn("seven_filters", [7] * 5, [100])


def mid():
    """Study 'mid': Conv 50-10, Dense 7 ReLU-7 (283,623 parameters)."""
    return _study_cnn("mid", [50, 10], [7])


def small():
    """Study 'small': one Conv 7 filters stride 3, Dense 7 (130,697 parameters)."""
    return _study_cnn("small", [7], [], first_stride=3)


ARCHITECTURES: dict[str, Callable] = {
    "big": big,
    "seven_filters": seven_filters,
    "mid": mid,
    "small": small,
}

STUDY_PARAMETERS = {"big": 2_122_371, "seven_filters": 348_063, "mid": 283_623, "small": 130_697}


def build(name: str):
    """Build an uncompiled Keras model by architecture name."""
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}") from None
