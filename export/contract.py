"""The model contract stored in an ONNX file's metadata_props.

Pure Python (no TensorFlow, no onnxruntime): written by `export`, read by the
realtime runtime, which refuses a model whose contract it cannot feed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from encoder.descriptors import DESCRIPTORS, MAXS, MINS, PEAK, SAMPLE_RATE, WINDOW_SAMPLES

PREFIX = "drumtimbre."
INPUT_NAME = "audio"
OUTPUT_NAME = "descriptors"
PREPROCESSING = (f"decode; average channels to mono; resample to {SAMPLE_RATE} Hz with soxr HQ; "
                 f"keep the first {WINDOW_SAMPLES} samples; peak-normalise to {PEAK}; "
                 f"zero-pad to {WINDOW_SAMPLES} samples; shape (batch, {WINDOW_SAMPLES}, 1) float32")
REQUIRED = ("descriptors", "norm_min", "norm_max", "sample_rate", "window_samples", "preprocessing",
            "input_name", "output_name", "output_units", "architecture", "training_data", "version")


class ContractError(ValueError):
    """A model file without a usable drumtimbre contract."""


@dataclass(frozen=True)
class Contract:
    """What a model expects and returns.  Ranges are AudioCommons points."""

    architecture: str
    training_data: str
    version: str
    descriptors: tuple[str, ...] = DESCRIPTORS
    norm_min: tuple[float, ...] = tuple(float(v) for v in MINS)
    norm_max: tuple[float, ...] = tuple(float(v) for v in MAXS)
    sample_rate: int = SAMPLE_RATE
    window_samples: int = WINDOW_SAMPLES
    preprocessing: str = PREPROCESSING
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    output_units: str = "normalised 0-1 (min-max over norm_min..norm_max)"
    extra: dict[str, str] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, str]:
        """Key/value strings for ONNX metadata_props (keys prefixed 'drumtimbre.')."""
        values = {
            "descriptors": json.dumps(list(self.descriptors)),
            "norm_min": json.dumps(list(self.norm_min)),
            "norm_max": json.dumps(list(self.norm_max)),
            "sample_rate": str(self.sample_rate),
            "window_samples": str(self.window_samples),
            "preprocessing": self.preprocessing,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "output_units": self.output_units,
            "architecture": self.architecture,
            "training_data": self.training_data,
            "version": self.version,
        }
        values.update(self.extra)
        return {PREFIX + k: v for k, v in values.items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str = "model") -> "Contract":
        """Parse metadata_props; raises ContractError naming `source` and the missing keys."""
        values = {k[len(PREFIX):]: v for k, v in metadata.items() if k.startswith(PREFIX)}
        missing = [k for k in REQUIRED if k not in values]
        if missing:
            raise ContractError(f"{source}: not a drumtimbre model: metadata lacks "
                                + ", ".join(PREFIX + k for k in missing))
        try:
            contract = cls(
                architecture=values["architecture"], training_data=values["training_data"],
                version=values["version"], descriptors=tuple(json.loads(values["descriptors"])),
                norm_min=tuple(float(v) for v in json.loads(values["norm_min"])),
                norm_max=tuple(float(v) for v in json.loads(values["norm_max"])),
                sample_rate=int(values["sample_rate"]), window_samples=int(values["window_samples"]),
                preprocessing=values["preprocessing"], input_name=values["input_name"],
                output_name=values["output_name"], output_units=values["output_units"],
                extra={k: v for k, v in values.items() if k not in REQUIRED},
            )
        except (ValueError, TypeError) as exc:
            raise ContractError(f"{source}: malformed drumtimbre metadata ({exc})") from exc
        if len(contract.descriptors) != len(contract.norm_min) or len(contract.norm_min) != len(contract.norm_max):
            raise ContractError(f"{source}: descriptor names and normalisation ranges differ in length")
        return contract

    def check_feedable(self, sample_rate: int = SAMPLE_RATE, window_samples: int = WINDOW_SAMPLES,
                       source: str = "model") -> None:
        """Raise ContractError unless the model takes what this runtime prepares."""
        if self.sample_rate != sample_rate or self.window_samples != window_samples:
            raise ContractError(
                f"{source}: model expects {self.window_samples} samples at {self.sample_rate} Hz; "
                f"this runtime feeds {window_samples} samples at {sample_rate} Hz")
        if tuple(self.descriptors) != DESCRIPTORS:
            raise ContractError(f"{source}: model descriptors {list(self.descriptors)} differ from "
                                f"{list(DESCRIPTORS)}")
