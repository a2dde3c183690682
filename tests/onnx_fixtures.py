"""A tiny but real ONNX model for tests (built with onnx.helper, no TensorFlow).

Input `audio` (batch, 16000, 1) float32 -> output `descriptors` (batch, 7),
computed deterministically from the audio: the mean absolute level of eight
125 ms segments plus the mean absolute first difference (a brightness proxy),
mixed by a fixed matrix and squashed to 0-1.  Different hits give different
outputs; the same hit always gives the same output.  The file carries the full
drumtimbre contract in metadata_props.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from encoder.descriptors import DESCRIPTORS, WINDOW_SAMPLES

SEGMENTS = 8


def fixture_weights(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (9, 7) mixing matrix and (7,) bias of the fixture model."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 2.0, size=(SEGMENTS + 1, len(DESCRIPTORS))).astype(np.float32)
    w[SEGMENTS] = 4.0 * np.abs(w[SEGMENTS])  # brighter audio -> larger outputs
    b = rng.normal(0.0, 0.5, size=len(DESCRIPTORS)).astype(np.float32)
    return w, b


def reference_outputs(batch: np.ndarray, seed: int = 7) -> np.ndarray:
    """What the fixture model computes, in numpy: (n, 16000) -> (n, 7) in 0-1."""
    x = np.asarray(batch, dtype=np.float32).reshape(len(batch), WINDOW_SAMPLES)
    env = np.abs(x).reshape(len(x), SEGMENTS, -1).mean(axis=2)
    diff = np.abs(x[:, 1:] - x[:, :-1]).mean(axis=1, keepdims=True)
    w, b = fixture_weights(seed)
    z = np.concatenate([env, diff], axis=1) @ w + b
    return 1.0 / (1.0 + np.exp(-z))


def build_fixture_model(seed: int = 7, with_contract: bool = True, version: str = "test-0"):
    """An onnx.ModelProto of the fixture model (see module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from export.contract import INPUT_NAME, OUTPUT_NAME, Contract

    w, b = fixture_weights(seed)
    seg = WINDOW_SAMPLES // SEGMENTS
    inits = [
        numpy_helper.from_array(np.array([-1, WINDOW_SAMPLES], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([-1, SEGMENTS, seg], dtype=np.int64), "seg_shape"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([WINDOW_SAMPLES], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array([WINDOW_SAMPLES - 1], dtype=np.int64), "end_m1"),
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(b, "B"),
    ]
    nodes = [
        helper.make_node("Reshape", [INPUT_NAME, "flat_shape"], ["flat"]),
        helper.make_node("Reshape", ["flat", "seg_shape"], ["segs"]),
        helper.make_node("Abs", ["segs"], ["segs_abs"]),
        helper.make_node("ReduceMean", ["segs_abs"], ["env"], axes=[2], keepdims=0),
        helper.make_node("Slice", ["flat", "one", "end", "one"], ["later"]),
        helper.make_node("Slice", ["flat", "zero", "end_m1", "one"], ["earlier"]),
        helper.make_node("Sub", ["later", "earlier"], ["diff"]),
        helper.make_node("Abs", ["diff"], ["diff_abs"]),
        helper.make_node("ReduceMean", ["diff_abs"], ["bright"], axes=[1], keepdims=1),
        helper.make_node("Concat", ["env", "bright"], ["feats"], axis=1),
        helper.make_node("MatMul", ["feats", "W"], ["mixed"]),
        helper.make_node("Add", ["mixed", "B"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], [OUTPUT_NAME]),
    ]
    graph = helper.make_graph(
        nodes, "drumtimbre_test_fixture",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", WINDOW_SAMPLES, 1])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", len(DESCRIPTORS)])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="drumtimbre-tests")
    model.ir_version = 8
    if with_contract:
        meta = Contract(architecture="test-fixture", training_data="none", version=version).to_metadata()
        helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def write_fixture_model(path: str | Path, seed: int = 7, with_contract: bool = True,
                        version: str = "test-0") -> Path:
    """Build the fixture model and save it to `path` (an .onnx file); returns the path."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_fixture_model(seed=seed, with_contract=with_contract, version=version), str(path))
    return path
