"""Keras 3 model -> ONNX graph with a dynamic batch and the drumtimbre contract.

`tf2onnx.convert.from_keras` does not work with Keras 3, so the model is
wrapped in a `tf.function` with one input `audio` (batch, 16000, 1) float32
and converted with `tf2onnx.convert.from_function`; the output is renamed
`descriptors` (batch, 7).  TensorFlow is imported only inside functions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from encoder.descriptors import DESCRIPTORS, WINDOW_SAMPLES
from export.contract import INPUT_NAME, OUTPUT_NAME, Contract

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 18
BATCH_DIM = "batch"


@dataclass
class KerasSource:
    """A Keras model to export, with what the contract says about it."""

    model: object  # keras.Model
    path: Path
    """The .keras file."""
    architecture: str
    training_data: str
    run: dict
    """run.json contents ({} for a bare .keras file)."""


def load_keras_source(source: str | Path, training_data: str | None = None) -> KerasSource:
    """A run dir (model.keras + run.json) or a bare .keras file -> KerasSource.

    Raises FileNotFoundError / ValueError naming the file for anything unusable.
    """
    source = Path(source)
    run: dict = {}
    if source.is_dir():
        model_path = source / "model.keras"
        run_path = source / "run.json"
        if not model_path.is_file():
            raise FileNotFoundError(f"{source}: run folder has no model.keras")
        if not run_path.is_file():
            raise FileNotFoundError(f"{source}: run folder has no run.json")
        try:
            run = json.loads(run_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{run_path}: not valid JSON ({exc})") from exc
        if not isinstance(run, dict):
            raise ValueError(f"{run_path}: expected a JSON object")
    elif source.is_file():
        model_path = source
        if source.suffix != ".keras":
            raise ValueError(f"{source}: expected a .keras file or a training run folder")
    else:
        raise FileNotFoundError(f"{source}: no such file or folder")
    model = load_keras_model(model_path)
    architecture = str(run.get("architecture") or model.name)
    data = training_data if training_data is not None else _summary(run.get("training_data", "unknown"))
    return KerasSource(model, model_path, architecture, data, run)


def _summary(value) -> str:
    """run.json's training_data as one string (it may be a string or a JSON structure)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def load_keras_model(path: str | Path):
    """Load a .keras file with drumtimbre's custom layers registered."""
    import keras

    from encoder.models import custom_objects

    import zipfile

    if Path(path).is_file() and Path(path).suffix == ".keras" and not zipfile.is_zipfile(path):
        # (Keras says "File not found" of a .keras file that exists but is no zip archive)
        raise ValueError(f"{path}: not a Keras model file (a .keras model is a zip archive; this one is not)")
    try:
        return keras.saving.load_model(str(path), custom_objects=custom_objects(), compile=False)
    except Exception as exc:  # keras raises ValueError, OSError, zipfile errors, ...
        raise ValueError(f"{path}: cannot load Keras model ({' '.join(str(exc).split())[:300]})") from exc


def check_keras_io(model, name: str = "model") -> None:
    """Raise ValueError unless the Keras model maps (batch, 16000, 1) -> (batch, 7)."""
    shapes_in = [tuple(t.shape) for t in model.inputs]
    shapes_out = [tuple(t.shape) for t in model.outputs]
    if shapes_in != [(None, WINDOW_SAMPLES, 1)]:
        raise ValueError(f"{name}: input shape {shapes_in}; expected [(None, {WINDOW_SAMPLES}, 1)]")
    if shapes_out != [(None, len(DESCRIPTORS))]:
        raise ValueError(f"{name}: output shape {shapes_out}; expected [(None, {len(DESCRIPTORS)})]")


def to_onnx(model, opset: int = DEFAULT_OPSET, notes: list[str] | None = None, rebuild_front_end: bool = True,
            simplify_graph: bool = True):
    """Convert a Keras model to an onnx.ModelProto: input `audio` (batch, 16000, 1), output `descriptors` (batch, 7).

    With `rebuild_front_end`, a log-mel model's fixed front end is first rebuilt
    in its fastest equivalent form (`export.front_end`); with `simplify_graph`
    the converted graph is cleaned up (`export.simplify`).  Both keep what the
    model computes (the rebuild up to the factored basis' precision, checked on
    probes); what they did is appended to `notes`.
    """
    import tensorflow as tf
    import tf2onnx

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset}: supported {MIN_OPSET}-{MAX_OPSET}")
    check_keras_io(model, getattr(model, "name", "model"))
    notes = [] if notes is None else notes
    if rebuild_front_end:
        from export.front_end import fastest_equivalent

        model, note = fastest_equivalent(model)
        if note:
            notes.append(note)
    spec = (tf.TensorSpec((None, WINDOW_SAMPLES, 1), tf.float32, name=INPUT_NAME),)
    from encoder.blend import parts

    blend = parts(model)
    if blend is None:
        @tf.function(input_signature=spec)
        def forward(audio):
            return {OUTPUT_NAME: model(audio, training=False)}
    else:  # each forest becomes one ONNX-ML node: convert the rest, graft them after
        import keras

        heads = {_NETWORK: blend.network, _FEATURES: blend.features}
        if blend.share is not None:
            heads[_SHARE] = blend.share
        if blend.short_forest is not None:
            heads[_SHORT_SHARE] = blend.short_share
        stub = keras.Model(model.input, list(heads.values()))

        @tf.function(input_signature=spec)
        def forward(audio):
            return dict(zip(heads, stub(audio, training=False)))

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=opset)
    if blend is not None:
        from encoder.blend import describe_weight

        _graft_trees(proto, blend.forest, None if blend.share is not None else blend.weight, blend.short_forest)
        notes.append(f"trees: one ai.onnx.ml TreeEnsembleRegressor ({blend.forest.roots.size} trees)"
                     + (f" and one for windows sounding up to 24 ms ({blend.short_forest.roots.size} trees)"
                        if blend.short_forest is not None else "")
                     + f", blend weight {describe_weight(blend.weight)}")
    _name_batch_dim(proto)
    if simplify_graph:
        from export.simplify import simplify

        done = simplify(proto)
        if done:
            notes.append("graph simplified: " + ", ".join(f"{k} x{v}" for k, v in sorted(done.items())))
    return proto


_NETWORK, _FEATURES, _TREES, _SHARE = "network", "band_features", "trees", "trees_share"
_SHORT_SHARE = "short_share"


def _graft_trees(proto, forest, weight: float | None, short_forest=None) -> None:
    """Append the forest(s) and the blend to a graph with outputs `network` and `band_features` (and, for
    `weight` None, `trees_share`: the trees' share per clip, (batch, 1); with `short_forest`, `short_share`:
    1 where it replaces `forest`): one output `descriptors` = (1 - w) x network + w x trees(band_features),
    w = weight or trees_share."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from encoder.trees import onnx_node

    g = proto.graph
    outputs = {o.name for o in g.output}
    want = ({_NETWORK, _FEATURES} | ({_SHARE} if weight is None else set())
            | ({_SHORT_SHARE} if short_forest is not None else set()))
    if outputs != want:
        raise ValueError(f"graft: expected outputs {', '.join(sorted(want))}; found {', '.join(sorted(outputs))}")
    if weight is None or short_forest is not None:
        g.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "blend_one"))
    trees = _TREES
    nodes = [onnx_node(forest, _FEATURES, _TREES, name="trees")]
    if short_forest is not None:
        trees = "trees_mixed"
        nodes += _short_forest_nodes(short_forest, trees)
    if weight is None:
        nodes += _mix_nodes(_NETWORK, trees, _SHARE, OUTPUT_NAME, "blend")
    else:
        g.initializer.extend([numpy_helper.from_array(np.array(1.0 - weight, np.float32), "blend_keep"),
                              numpy_helper.from_array(np.array(weight, np.float32), "blend_share")])
        nodes += _mix_nodes(_NETWORK, trees, "blend_share", OUTPUT_NAME, "blend", keep="blend_keep")
    g.node.extend(nodes)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, forest.outputs]))
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))


def _mix_nodes(a: str, b: str, share: str, out: str, name: str, keep: str | None = None) -> list:
    """Nodes making `out` = keep x `a` + share x `b`, keep = 1 - share (the initializer `blend_one` minus it) unless
    given; the Blend layer's arithmetic.  Intermediate tensors and nodes are named after `name`."""
    from onnx import helper

    nodes = []
    if keep is None:
        keep = f"{name}_keep"
        nodes.append(helper.make_node("Sub", ["blend_one", share], [keep], name=keep))
    return nodes + [helper.make_node("Mul", [a, keep], [f"{name}_a"], name=f"{name}_a"),
                    helper.make_node("Mul", [b, share], [f"{name}_b"], name=f"{name}_b"),
                    helper.make_node("Add", [f"{name}_a", f"{name}_b"], [out], name=name)]


def _short_forest_nodes(short_forest, out: str) -> list:
    """Nodes making `out` = (1 - short_share) x trees + short_share x short_forest(band_features), the short
    forest evaluated only when some window in the batch needs it (an ONNX If): a whole window, the usual
    case, does not pay for a second forest."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from encoder.trees import onnx_node

    mix = helper.make_graph(
        [onnx_node(short_forest, _FEATURES, "trees_short", name="trees_short"),
         *_mix_nodes(_TREES, "trees_short", _SHORT_SHARE, "trees_mix_short", "trees_mix")],
        "short_windows", [], [helper.make_tensor_value_info("trees_mix_short", TensorProto.FLOAT, None)])
    keep = helper.make_graph([helper.make_node("Identity", [_TREES], ["trees_long_only"], name="trees_long_only")],
                             "whole_windows", [], [helper.make_tensor_value_info("trees_long_only", TensorProto.FLOAT,
                                                                                  None)])
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "short_none")
    return [helper.make_node("Constant", [], ["short_none"], name="short_none", value=zero),
            helper.make_node("ReduceMax", [_SHORT_SHARE], ["short_any_share"], name="short_any_share", keepdims=0),
            helper.make_node("Greater", ["short_any_share", "short_none"], ["short_any"], name="short_any"),
            helper.make_node("If", ["short_any"], [out], name="short_windows", then_branch=mix, else_branch=keep)]


def _name_batch_dim(proto) -> None:
    """Give the dynamic first dimension of the input and output the symbolic name 'batch'."""
    for vi in list(proto.graph.input) + list(proto.graph.output):
        dim = vi.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = BATCH_DIM


def attach_contract(proto, contract: Contract) -> None:
    """Write the contract into the model's metadata_props (replacing any drumtimbre keys)."""
    from onnx import helper

    from drumtimbre import __version__

    keep = {p.key: p.value for p in proto.metadata_props if not p.key.startswith("drumtimbre.")}
    del proto.metadata_props[:]
    helper.set_model_props(proto, {**keep, **contract.to_metadata()})
    proto.producer_name = "drumtimbre"
    proto.producer_version = __version__
    proto.doc_string = (f"drumtimbre {contract.architecture}: {contract.preprocessing} -> "
                        f"{', '.join(contract.descriptors)} ({contract.output_units})")
