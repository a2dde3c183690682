"""The light model runtime: an exported ONNX model through ONNX Runtime.

Used by `predict`, `analyze` and `listen`.  Never imports TensorFlow.  A model
is refused at load time, with an error naming the file, unless it carries a
drumtimbre contract this runtime can feed (16,000 samples at 16 kHz in,
the seven descriptors out) and its graph has the contract's input and output.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, WINDOW_SAMPLES
from export.contract import Contract, ContractError

MODEL_ENV = "DRUMTIMBRE_MODEL"
"""Environment variable naming the default model file."""


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file."""


class ModelContractError(ModelError, ContractError):
    """A model whose drumtimbre contract is missing, malformed or not feedable."""


def default_model_path() -> Path:
    """$DRUMTIMBRE_MODEL if set, else the shipped model: <checkout>/models/default.onnx (source or
    editable install), or <prefix>/share/drumtimbre/models/default.onnx (`pip install .` puts it there)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "models" / "default.onnx"
    if checkout.exists():
        return checkout
    installed = Path(sys.prefix) / "share" / "drumtimbre" / "models" / "default.onnx"
    return installed if installed.exists() else checkout


def session_options(threads: int | None = None, optimization: str = "all"):
    """ONNX Runtime session options: `threads`=1 gives one intra-op thread, sequential execution.

    `optimization` is one of 'disable', 'basic', 'extended', 'all' (graph optimisation level).
    """
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise ValueError(f"optimization {optimization!r}: choose from {', '.join(levels)}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = levels[optimization]
    opts.log_severity_level = 3
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


@dataclass
class OnnxModel:
    """A loaded model: its file, its contract and the ONNX Runtime session."""

    path: Path
    contract: Contract
    session: object  # onnxruntime.InferenceSession (type kept loose: onnxruntime is imported lazily)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, 16000) or (n, 16000, 1) prepared model inputs -> (n, 7) normalised 0-1, float32, not clipped."""
        x = np.asarray(batch, dtype=np.float32)
        window = self.contract.window_samples
        if x.ndim == 1 and x.shape[0] == window:
            x = x[None, :]
        if x.ndim == 2 and x.shape[1] == window:
            x = x[:, :, None]
        if x.ndim != 3 or x.shape[1:] != (window, 1):
            raise ValueError(f"{self.path.name}: expected input of shape (n, {window}) or (n, {window}, 1), "
                             f"got {tuple(np.shape(batch))}")
        if x.shape[0] == 0:
            return np.zeros((0, len(self.contract.descriptors)), dtype=np.float32)
        out = self.session.run([self.contract.output_name], {self.contract.input_name: np.ascontiguousarray(x)})[0]
        return np.asarray(out, dtype=np.float32)

    def to_points(self, norm: np.ndarray) -> np.ndarray:
        """Normalised 0-1 outputs (..., 7) -> AudioCommons points clipped to 0-100 (float64)."""
        lo = np.asarray(self.contract.norm_min, dtype=np.float64)
        hi = np.asarray(self.contract.norm_max, dtype=np.float64)
        return np.clip(np.asarray(norm, dtype=np.float64) * (hi - lo) + lo, 0.0, 100.0)

    def predict_points(self, batch: np.ndarray) -> np.ndarray:
        """Prepared model inputs -> (n, 7) AudioCommons points, clipped to 0-100."""
        return self.to_points(self.predict(batch))


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _check_graph(path: Path, contract: Contract, session) -> None:
    """Raise ModelError unless the graph has exactly the contract's input and output with the right shapes."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [contract.input_name]:
        raise ModelError(f"{path}: model inputs {[i.name for i in inputs]}; expected one input "
                         f"{contract.input_name!r}")
    if contract.output_name not in [o.name for o in outputs]:
        raise ModelError(f"{path}: model outputs {[o.name for o in outputs]}; expected {contract.output_name!r}")
    inp = inputs[0]
    out = next(o for o in outputs if o.name == contract.output_name)
    if inp.type != "tensor(float)":
        raise ModelError(f"{path}: input {inp.name!r} has type {inp.type}; expected tensor(float)")
    n_out = len(contract.descriptors)
    if not _shape_ok(inp.shape, (contract.window_samples, 1)):
        raise ModelError(f"{path}: input {inp.name!r} has shape {inp.shape}; "
                         f"expected (batch, {contract.window_samples}, 1)")
    if not _shape_ok(out.shape, (n_out,)):
        raise ModelError(f"{path}: output {out.name!r} has shape {out.shape}; expected (batch, {n_out})")


def _shape_ok(shape, tail: tuple[int, ...]) -> bool:
    """True when `shape` is (any batch, *tail); symbolic or unknown dims in the tail are accepted."""
    if shape is None or len(shape) != len(tail) + 1:
        return False
    return all(not isinstance(d, int) or d == t for d, t in zip(shape[1:], tail))


def load_model(path: str | Path | None = None, threads: int | None = None, warmup: bool = True,
               optimization: str = "all") -> OnnxModel:
    """Load an ONNX model with a drumtimbre contract (default: `default_model_path()`).

    `threads`=1 for the audio worker (one intra-op thread, sequential
    execution); None leaves ONNX Runtime's defaults.  `warmup` runs one
    silent window so the first real hit is not slowed by lazy initialisation.
    Raises ModelError (a ValueError naming the file) for a missing or
    undecodable file, and ModelContractError (also a ContractError) for a
    missing or unfeedable contract.
    """
    import onnxruntime as ort

    path = Path(path) if path is not None else default_model_path()
    if not path.exists():
        hint = ""
        if path == default_model_path():
            env = os.environ.get(MODEL_ENV)
            hint = (f" (no model given, and {MODEL_ENV}={env} names no file; pass a model file or point {MODEL_ENV}"
                    f" at one)" if env else f" (the default model; set {MODEL_ENV} or pass a model file)")
        raise ModelError(f"{path}: model file not found{hint}")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not an ONNX model file")
    options = session_options(threads, optimization)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
        hint = (" - a Keras model: export it with `drumtimbre export` first" if path.suffix.lower() in (".keras", ".h5")
                else "")
        raise ModelError(f"{path}: not a loadable ONNX model ({_short(exc)}){hint}") from exc
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    try:
        contract = Contract.from_metadata(metadata, source=str(path))
        contract.check_feedable(SAMPLE_RATE, WINDOW_SAMPLES, source=str(path))
    except ContractError as exc:
        raise ModelContractError(str(exc)) from exc
    _check_graph(path, contract, session)
    model = OnnxModel(path=path, contract=contract, session=session)
    if warmup:
        try:
            out = model.predict(np.zeros((1, contract.window_samples), dtype=np.float32))
        except Exception as exc:
            raise ModelError(f"{path}: warm-up inference failed ({_short(exc)})") from exc
        if out.shape != (1, len(DESCRIPTORS)):
            raise ModelError(f"{path}: model returned shape {out.shape} for one window; expected (1, {len(DESCRIPTORS)})")
    return model


READ_S = WINDOW_SAMPLES / SAMPLE_RATE + 0.25
"""Seconds of each file `predict_files` decodes: the model's window and a margin, so the resampler's edge lies far
past the window (the first second comes out as from the whole file, within float rounding)."""


def predict_files(model, paths: Iterable[str | Path], batch_size: int = 64
                  ) -> Iterator[tuple[Path, np.ndarray | None, str]]:
    """Predict files in batches -> (path, (7,) AudioCommons points 0-100 or None, message).

    `model` is anything with `predict_points(batch)` (an OnnxModel, or the
    Keras adapter of `predict`).  Files are prepared as `encoder.audio.load`
    does (mono, 16 kHz, 1 s, peak-normalised, zero-padded), from their first
    READ_S seconds only (a long take is not decoded whole, and what comes later,
    NaN samples too, plays no part); a file that cannot be prepared yields (path, None, reason) and the run goes on.  With points, the
    message is '' or what may mislead the model (`encoder.audio.input_warnings`:
    a DC offset, clipping), joined by '; '.  Order is kept.
    """
    from encoder.audio import AudioError, input_warnings, pad, prepare, read

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[tuple[Path, np.ndarray | None, str]] = []

    def flush():
        good = [i for i, (_, x, _) in enumerate(pending) if x is not None]
        points = model.predict_points(np.stack([pending[i][1] for i in good])) if good else None
        row = {i: points[k] for k, i in enumerate(good)}
        for i, (p, _, message) in enumerate(pending):
            yield (p, np.asarray(row[i], dtype=np.float64), message) if i in row else (p, None, message)
        pending.clear()

    for p in map(Path, paths):
        try:
            data, rate = read(p, max_seconds=READ_S)
            if data.shape[0] == 0:
                from realtime.cut_short import empty_audio
                raise AudioError(p, empty_audio(p))
            clip = prepare(data, rate, source=p)
            pending.append((p, pad(clip.samples), "; ".join(input_warnings(data, rate))))
        except AudioError as exc:
            pending.append((p, None, exc.reason))
        except OSError as exc:
            pending.append((p, None, f"cannot read ({exc.strerror or exc})"))
        if sum(x is not None for _, x, _ in pending) >= batch_size:
            yield from flush()
    if pending:
        yield from flush()
