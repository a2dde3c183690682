"""Export = convert, embed the contract, write to a temporary file, check parity, then move into place.

A model that fails parity is never left at the output path: the temporary
file is deleted and ParityError raised (an older file at the path is kept
untouched).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.contract import Contract
from export.parity import TOLERANCE, ParityReport, check_parity, parity_clips


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote: the ONNX file, its contract and the parity check."""

    path: Path
    contract: Contract
    parity: ParityReport
    opset: int


def export_model(model, out: str | Path, architecture: str, training_data: str, opset: int | None = None,
                 clips: np.ndarray | None = None, real_clips: int | None = None,
                 tolerance: float = TOLERANCE, extra: dict[str, str] | None = None) -> ExportResult:
    """Export a Keras model to `out` (.onnx) with its contract; parity-checked on `clips` (default: kit clips).

    Raises ParityError (and writes nothing) if ONNX Runtime and Keras differ by more than `tolerance`
    (normalised units) on any output.
    """
    import onnx

    from drumtimbre import __version__
    from export.keras_to_onnx import DEFAULT_OPSET, attach_contract, to_onnx
    from realtime.runtime import load_model

    opset = DEFAULT_OPSET if opset is None else int(opset)
    out = Path(out)
    if clips is None:
        clips, real_clips = parity_clips()
    elif real_clips is None:
        real_clips = 0
    notes: list[str] = []
    proto = to_onnx(model, opset, notes=notes)
    meta = {"opset": str(opset), "parameters": str(int(model.count_params())), **(extra or {})}
    if notes:
        meta["conversion"] = "; ".join(notes)
    contract = Contract(architecture=architecture, training_data=training_data, version=__version__, extra=meta)
    attach_contract(proto, contract)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        onnx.save(proto, str(tmp))
        report = check_parity(model, load_model(tmp, warmup=False), clips, real_clips, tolerance, onnx_path=tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private (0600); a model file is an ordinary file
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, contract, report, opset)
