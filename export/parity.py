"""Parity of an exported model: ONNX Runtime and Keras must agree on real drum clips.

Clips are Debian drum-kit one-shots (Hydrogen kits, LMMS samples) prepared
exactly as the model sees them; where fewer than needed are installed, the
rest are generated drum sounds (kicks, snares, hats).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoder.descriptors import SAMPLE_RATE

KIT_DIRS = (Path("/usr/share/hydrogen/data/drumkits"), Path("/usr/share/lmms/samples/drums"))
MIN_CLIPS = 50
DEFAULT_CLIPS = 64
TOLERANCE = 1e-4
"""Largest allowed |ONNX - Keras| on any output, normalised units."""


class ParityError(RuntimeError):
    """ONNX Runtime and Keras disagree beyond the tolerance."""


@dataclass(frozen=True)
class ParityReport:
    """Result of a parity check: worst and mean |ONNX - Keras| in normalised units over `clips` clips."""

    clips: int
    real_clips: int
    max_abs: float
    mean_abs: float
    tolerance: float

    @property
    def ok(self) -> bool:
        """Whether the worst |ONNX - Keras| is within the tolerance (normalised units)."""
        return self.max_abs <= self.tolerance


def kit_files(dirs: tuple[Path, ...] = KIT_DIRS) -> list[Path]:
    """Installed drum-kit audio files, ordered so that any prefix spreads over all kits and instruments.

    Every k-th file first (k = files / DEFAULT_CLIPS), then the rest, so taking the first
    DEFAULT_CLIPS files samples the whole sorted list evenly.
    """
    from encoder.audio import find_audio

    files = find_audio([d for d in dirs if d.is_dir()])
    step = max(1, len(files) // DEFAULT_CLIPS)
    return files[::step] + [f for i, f in enumerate(files) if i % step]


def kit_clips(count: int = DEFAULT_CLIPS, dirs: tuple[Path, ...] = KIT_DIRS) -> np.ndarray:
    """Up to `count` model inputs (n, 16000) float32 from installed drum kits (see `kit_files`); undecodable or
    silent files are skipped."""
    from encoder.audio import AudioError, model_input

    out: list[np.ndarray] = []
    for f in kit_files(dirs):
        if len(out) >= count:
            break
        try:
            out.append(model_input(f))
        except (AudioError, OSError):
            continue
    return np.stack(out) if out else np.zeros((0, 16000), dtype=np.float32)


def generated_clips(count: int, seed: int = 0) -> np.ndarray:
    """`count` generated drum hits (kick / snare / hat variants) as model inputs (count, 16000)."""
    from encoder.audio import pad, prepare

    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    out = []
    for i in range(count):
        kind = i % 3
        noise = rng.standard_normal(t.size)
        if kind == 0:  # kick: falling pitch, 0.1-0.3 s decay
            f0 = rng.uniform(40, 90)
            phase = 2 * np.pi * np.cumsum(f0 + 2 * f0 * np.exp(-t / 0.03)) / SAMPLE_RATE
            x = np.sin(phase) * np.exp(-t / rng.uniform(0.1, 0.3))
        elif kind == 1:  # snare: body + noise
            x = (np.sin(2 * np.pi * rng.uniform(150, 250) * t) * np.exp(-t / 0.06)
                 + 0.6 * noise * np.exp(-t / rng.uniform(0.05, 0.15)))
        else:  # hat: differentiated noise, fast decay
            x = np.diff(noise, prepend=0.0) * np.exp(-t / rng.uniform(0.02, 0.2))
        out.append(pad(prepare(x, SAMPLE_RATE).samples))
    return np.stack(out).astype(np.float32)


def parity_clips(count: int = DEFAULT_CLIPS) -> tuple[np.ndarray, int]:
    """(count, 16000) model inputs for parity and how many are real kit clips (the rest generated)."""
    real = kit_clips(count)
    if len(real) >= count:
        return real[:count], count
    extra = generated_clips(count - len(real))
    return np.concatenate([real, extra]).astype(np.float32), len(real)


def keras_outputs(model, clips: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Keras inference (training=False) on (n, 16000) clips -> (n, 7) float32."""
    x = np.asarray(clips, dtype=np.float32)[:, :, None]
    parts = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float32)


def compare(keras_out: np.ndarray, onnx_out: np.ndarray, real_clips: int,
            tolerance: float = TOLERANCE) -> ParityReport:
    """Compare two (n, 7) output arrays; non-finite values count as infinite disagreement."""
    if keras_out.shape != onnx_out.shape:
        raise ParityError(f"output shapes differ: Keras {keras_out.shape}, ONNX {onnx_out.shape}")
    diff = np.abs(keras_out.astype(np.float64) - onnx_out.astype(np.float64))
    diff[~np.isfinite(diff)] = np.inf
    return ParityReport(clips=len(diff), real_clips=real_clips, max_abs=float(diff.max()),
                        mean_abs=float(diff.mean()), tolerance=tolerance)


SHORT_CHECK_S = 0.010
"""A blend with a short-window forest is also checked on the clips cut to this long a window (s)."""
FEATURE_TOLERANCE = 1e-3
"""Largest allowed |ONNX - Keras| of a blend's tree features, relative to max(1, |feature|)."""


def blend_reference(keras_model, blend_parts, onnx_path: str | Path, clips: np.ndarray,
                    batch_size: int = 32) -> np.ndarray:
    """A blend model's Keras output with its trees evaluated on the ONNX graph's own features -> (n, 7).

    Trees are step functions: a feature that differs by float rounding (1e-6)
    next to a threshold sends a clip down another branch.  So the network part
    and the features are compared with Keras, and the trees are judged on the
    very features the ONNX graph computed (`encoder.trees.predict`, which is
    what the Keras layer computes).  Raises ParityError if the features differ
    by more than FEATURE_TOLERANCE.  `blend_parts` is `encoder.blend.parts(keras_model)`; a share by
    sounding length is taken from the Keras side, the short forest's share from `encoder.blend.trees_part`.
    """
    import keras
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from encoder import trees
    from encoder.blend import sounding_ms, trees_part
    from export.keras_to_onnx import _FEATURES

    b = blend_parts
    heads = [b.network, b.features] + ([b.share] if b.share is not None else [])
    stub = keras.Model(keras_model.input, heads)
    x = np.asarray(clips, dtype=np.float32)[:, :, None]
    parts = [stub(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    k_net, k_feats, *k_share = (np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(len(heads)))
    weight = k_share[0] if k_share else b.weight
    proto = onnx.load(str(onnx_path))
    proto.graph.output.append(helper.make_tensor_value_info(_FEATURES, TensorProto.FLOAT, None))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (o_feats,) = sess.run([_FEATURES], {sess.get_inputs()[0].name: x})
    off = np.abs(o_feats - k_feats) / np.maximum(1.0, np.abs(k_feats))
    if not off.max() <= FEATURE_TOLERANCE:
        raise ParityError(f"the trees' input features differ between ONNX and Keras by up to {off.max():.3g} "
                          f"(relative; tolerance {FEATURE_TOLERANCE:g})")
    short = trees.predict(b.short_forest, o_feats) if b.short_forest is not None else None
    mixed = trees_part(trees.predict(b.forest, o_feats), short, sounding_ms(x[:, :, 0]))
    return ((1.0 - weight) * k_net + weight * mixed).astype(np.float32)


def check_parity(keras_model, onnx_model, clips: np.ndarray, real_clips: int,
                 tolerance: float = TOLERANCE, onnx_path: str | Path | None = None) -> ParityReport:
    """Run both models on `clips`; raise ParityError if max |ONNX - Keras| > tolerance.

    For a blend (`encoder.blend`), `onnx_path` is needed: the Keras side's trees read the ONNX graph's
    features (`blend_reference`); one with a short-window forest is checked on the clips and, as a second
    batch, on copies cut to SHORT_CHECK_S."""
    if len(clips) < MIN_CLIPS:
        raise ParityError(f"parity needs at least {MIN_CLIPS} clips, got {len(clips)}")
    from encoder.blend import parts

    found = parts(keras_model)
    if found is None:
        reference, got = keras_outputs(keras_model, clips), onnx_model.predict(clips)
    elif onnx_path is None:
        raise ValueError("parity of a blend model needs the ONNX file's path")
    else:
        batches = [np.asarray(clips, dtype=np.float32)]
        if found.short_forest is not None:  # the graph's If runs the short forest only for such a batch
            cut = batches[0].copy()
            cut[:, int(SHORT_CHECK_S * SAMPLE_RATE):] = 0.0
            batches.append(cut)
            real_clips *= 2
        reference = np.concatenate([blend_reference(keras_model, found, onnx_path, b) for b in batches])
        got = np.concatenate([onnx_model.predict(b) for b in batches])
    report = compare(reference, got, real_clips, tolerance)
    if not report.ok:
        raise ParityError(f"ONNX and Keras outputs differ by up to {report.max_abs:.3g} "
                          f"(tolerance {tolerance:g}) on {report.clips} clips")
    return report
