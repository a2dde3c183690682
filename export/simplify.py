"""Exact clean-ups of the ONNX graph tf2onnx writes, so ONNX Runtime can fuse what it otherwise cannot.

tf2onnx translates Keras' `Dense` on a (batch, time, features) tensor as
TensorFlow's Tensordot: Reshape to 2-D -> MatMul -> Reshape back, with a
Shape/Gather/Concat/Cast chain computing the shape; ONNX `MatMul` broadcasts
over leading axes, so a plain 3-D MatMul does the same.  It writes each
`Conv1D` as Unsqueeze -> 2-D Conv -> Squeeze -> Add(bias) -> activation,
and the Squeeze between the Conv and its bias stops ONNX Runtime from
folding the bias into the Conv, fusing the ReLU and keeping its blocked
(NCHWc) layout from one convolution to the next.

Every pass here rewrites a pattern into the same arithmetic (no value is
rounded differently except where Runtime fuses a bias add into the Conv);
the export's parity check against Keras runs on the simplified graph.  A
node with subgraphs (the blend's `If`) counts the outer tensors they read as
its inputs, so no pass drops or reorders what they need.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

ELEMENTWISE_UNARY = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Softplus"}


def simplify(proto) -> dict[str, int]:
    """Apply all passes to an onnx.ModelProto in place until none applies -> {pass name: times applied}.

    Each pass makes at most one rewrite per call (node references go stale when the node list changes)
    and returns how many it made.
    """
    counts: dict[str, int] = defaultdict(int)
    del proto.graph.value_info[:]  # shapes recorded before a rewrite could be stale after it
    changed = True
    while changed:
        changed = False
        for name, fn in PASSES:
            n = fn(proto)
            if n:
                counts[name] += n
                changed = True
        _drop_dead(proto.graph)
    return dict(counts)


# -- helpers -------------------------------------------------------------------------------------

def _inputs(node) -> list[str]:
    """A node's inputs and the outer-scope tensors its subgraphs (If, Loop, Scan) read."""
    names = list(node.input)
    for a in node.attribute:
        for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            made = {i.name for i in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                names += [x for x in _inputs(n) if x not in made]
                made.update(n.output)
    return names


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for node in graph.node:
        for name in _inputs(node):
            out[name].append(node)
    return out


def _producers(graph) -> dict[str, object]:
    return {o: node for node in graph.node for o in node.output}


def _const(graph, name: str) -> np.ndarray | None:
    """The value of an initializer or Constant node output, else None."""
    from onnx import numpy_helper

    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
    return None


def _axes(graph, node) -> list[int] | None:
    """Axes of a Squeeze/Unsqueeze (attribute before opset 13, second input after)."""
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    if len(node.input) > 1 and node.input[1]:
        value = _const(graph, node.input[1])
        return None if value is None else [int(v) for v in np.atleast_1d(value)]
    return None


def _ranks(proto) -> dict[str, int]:
    """{tensor name: rank} of the graph as it is now, by ONNX shape inference (on a copy)."""
    import onnx

    g = onnx.shape_inference.infer_shapes(proto).graph
    return {vi.name: len(vi.type.tensor_type.shape.dim) for vi in list(g.input) + list(g.value_info)
            + list(g.output) if vi.type.tensor_type.HasField("shape")}


def _graph_outputs(graph) -> set[str]:
    return {o.name for o in graph.output}


def _rename_input(graph, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def _drop_dead(graph) -> None:
    """Remove nodes whose outputs nobody reads and initializers nobody uses."""
    while True:
        used = {name for node in graph.node for name in _inputs(node)} | _graph_outputs(graph)
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {name for node in graph.node for name in _inputs(node)} | _graph_outputs(graph)
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


# -- passes --------------------------------------------------------------------------------------

def tensordot_to_matmul(proto) -> int:
    """Reshape(x, [-1, K]) -> MatMul(., W[K, N]) -> Reshape(., computed shape) => MatMul(x, W), for x of rank >= 3.

    Applied only when the MatMul's result feeds nothing but the final Reshape, and the first Reshape's
    result nothing but the MatMul (then the result is x's leading axes followed by N, as before).
    """
    graph = proto.graph
    producers, consumers = _producers(graph), _consumers(graph)
    ranks: dict[str, int] | None = None  # shape inference runs once, and only if a candidate gets that far
    for mm in [n for n in graph.node if n.op_type == "MatMul"]:
        first = producers.get(mm.input[0])
        if first is None or first.op_type != "Reshape":
            continue
        shape = _const(graph, first.input[1])
        weight = _const(graph, mm.input[1])
        if shape is None or weight is None or weight.ndim != 2 or list(shape) != [-1, weight.shape[0]]:
            continue
        after = consumers.get(mm.output[0], [])
        if len(after) != 1 or after[0].op_type != "Reshape":
            continue
        if {mm.output[0], after[0].output[0]} & _graph_outputs(graph):
            continue  # graph outputs keep their nodes and shapes (output names are part of the contract)
        if len(consumers.get(first.output[0], [])) != 1:
            continue
        last = after[0]
        ranks = _ranks(proto) if ranks is None else ranks
        rank = ranks.get(first.input[0])
        if not _leading_axes_kept(graph, last, first.input[0], producers, weight.shape[1], rank):
            continue
        mm.input[0] = first.input[0]
        _rename_input(graph, last.output[0], mm.output[0])
        graph.node.remove(last)
        return 1  # node references may be stale after a removal: one rewrite per call
    return 0


def _leading_axes_kept(graph, reshape, source: str, producers, n: int, rank: int | None) -> bool:
    """True if `reshape`'s shape is Concat(Gather(Shape(source), all but source's last axis), [n])
    (through Casts): the Reshape restores source's leading axes and puts the n columns last."""
    def skip_cast(name):
        node = producers.get(name)
        while node is not None and node.op_type == "Cast":
            node = producers.get(node.input[0])
        return node

    concat = skip_cast(reshape.input[1])
    if concat is None or concat.op_type != "Concat" or len(concat.input) != 2:
        return False
    gather = skip_cast(concat.input[0])
    if gather is None or gather.op_type != "Gather":
        return False
    shape = skip_cast(gather.input[0])
    if shape is None or shape.op_type != "Shape" or shape.input[0] != source:
        return False
    indices, tail = _const(graph, gather.input[1]), _const(graph, concat.input[1])
    if indices is None or tail is None or rank is None or [int(v) for v in np.atleast_1d(tail)] != [n]:
        return False
    return [int(i) for i in np.atleast_1d(indices)] == list(range(rank - 1)) and rank >= 3


def conv_bias_through_squeeze(proto) -> int:
    """Conv -> Squeeze(axes) -> Add(b) with b constant per output channel => Conv(bias b) -> Squeeze."""
    from onnx import numpy_helper

    graph = proto.graph
    producers, consumers = _producers(graph), _consumers(graph)
    for sq in [n for n in graph.node if n.op_type == "Squeeze"]:
        conv = producers.get(sq.input[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) > 2:
            continue
        if len(consumers.get(conv.output[0], [])) != 1:
            continue
        adds = consumers.get(sq.output[0], [])
        if len(adds) != 1 or adds[0].op_type != "Add":
            continue
        add = adds[0]
        other = add.input[1] if add.input[0] == sq.output[0] else add.input[0]
        bias = _const(graph, other)
        weight = _const(graph, conv.input[1])
        axes = _axes(graph, sq)
        if bias is None or weight is None or axes is None or {sq.output[0], add.output[0]} & _graph_outputs(graph):
            continue
        channels, rank = weight.shape[0], weight.ndim - len(axes)  # rank of the squeezed result
        # the squeezed spatial axes are >= 2, so the channel axis stays 1; the bias must broadcast
        # (numpy rules: aligned on the right) as one value per channel, nothing else
        if any(a < 2 for a in axes) or bias.ndim > rank:
            continue
        full = bias.reshape((1,) * (rank - bias.ndim) + bias.shape)
        if full.shape[1] != channels or any(d != 1 for i, d in enumerate(full.shape) if i != 1):
            continue
        name = f"{conv.name}_bias"
        graph.initializer.append(numpy_helper.from_array(bias.reshape(channels).astype(weight.dtype), name))
        conv.input.append(name)
        _rename_input(graph, add.output[0], sq.output[0])
        graph.node.remove(add)
        return 1
    return 0


def activation_before_squeeze(proto) -> int:
    """Squeeze -> elementwise activation => activation -> Squeeze (so the activation sits next to its Conv)."""
    graph = proto.graph
    producers, consumers = _producers(graph), _consumers(graph)
    for act in [n for n in graph.node if n.op_type in ELEMENTWISE_UNARY]:
        sq = producers.get(act.input[0])
        if sq is None or sq.op_type != "Squeeze" or len(consumers.get(sq.output[0], [])) != 1:
            continue
        if sq.output[0] in _graph_outputs(graph) or act.output[0] in _graph_outputs(graph):
            continue
        # act(squeeze(x)) == squeeze(act(x)); reuse both nodes with their names, swap the wiring
        x, mid, out = sq.input[0], sq.output[0], act.output[0]
        act.input[0], act.output[0] = x, mid
        sq.input[0], sq.output[0] = mid, out
        _toposort(graph)
        return 1
    return 0


def _toposort(graph) -> None:
    """Reorder graph.node topologically (stable: keeps the existing order where it is already valid)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in _inputs(node)):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError("graph has a cycle or an undefined input")
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del graph.node[:]
    graph.node.extend(copies)


def squeeze_unsqueeze(proto) -> int:
    """Squeeze(axes) -> Unsqueeze(same axes) => nothing (where the Squeeze's result is used only there)."""
    graph = proto.graph
    producers, consumers = _producers(graph), _consumers(graph)
    for un in [n for n in graph.node if n.op_type == "Unsqueeze"]:
        sq = producers.get(un.input[0])
        if sq is None or sq.op_type != "Squeeze" or len(consumers.get(sq.output[0], [])) != 1:
            continue
        a, b = _axes(graph, sq), _axes(graph, un)
        if a is None or b is None or sorted(a) != sorted(b) or any(x < 0 for x in a + b):
            continue
        if un.output[0] in _graph_outputs(graph):
            continue
        _rename_input(graph, un.output[0], sq.input[0])
        graph.node.remove(un)
        return 1
    return 0


PASSES = [
    ("tensordot_to_matmul", tensordot_to_matmul),
    ("conv_bias_through_squeeze", conv_bias_through_squeeze),
    ("activation_before_squeeze", activation_before_squeeze),
    ("squeeze_unsqueeze", squeeze_unsqueeze),
]
