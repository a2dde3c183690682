"""Gradient-boosted regression trees as flat arrays: fitted by scikit-learn, evaluated by numpy or a Keras layer.

`from_sklearn` flattens one fitted `HistGradientBoostingRegressor` per output
into a `Forest`: every tree's nodes in one set of arrays, leaves pointing to
themselves, so that evaluating is `depth` rounds of "go to the left child when
x[feature] <= threshold, else to the right" for all trees at once, then the
sum of the leaves reached.  No pickle is involved: a Keras model holds the
arrays as (non-trained) weights, and its ONNX export is plain Gather / Where
arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Forest:
    """Regression trees of several outputs in flat arrays (node 0 is a leaf worth 0, used to pad outputs)."""

    feature: np.ndarray  # int32 (nodes,): feature index a branch tests (0 for leaves)
    threshold: np.ndarray  # float32 (nodes,): go left when x[feature] <= threshold
    children: np.ndarray  # int32 (nodes, 2): [left, right]; a leaf's children are itself
    value: np.ndarray  # float32 (nodes,): a leaf's contribution (0 for branches)
    roots: np.ndarray  # int32 (outputs, trees): first node of each tree; node 0 pads outputs with fewer trees
    base: np.ndarray  # float32 (outputs,): added to the leaves' sum
    depth: int  # rounds needed to reach a leaf from every root

    @property
    def outputs(self) -> int:
        """Number of outputs (one per descriptor) the trees predict."""
        return int(self.roots.shape[0])

    @property
    def features(self) -> int:
        """Smallest number of input features the trees can address."""
        return int(self.feature.max()) + 1


def _floor32(values: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 value: `x <= t` keeps its answer for every float32 x."""
    f = values.astype(np.float32)
    over = f.astype(np.float64) > values
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def from_sklearn(models: list) -> Forest:
    """Flatten fitted HistGradientBoostingRegressors (one per output, numeric features, no missing values)."""
    feature, threshold, children, value = [np.zeros(1, np.int64)], [np.zeros(1)], [np.zeros((1, 2), np.int64)], \
        [np.zeros(1)]
    roots, base, depth, offset = [], [], 0, 1
    for m in models:
        if getattr(m, "is_categorical_", None) is not None and np.any(m.is_categorical_):
            raise ValueError("categorical features are not supported")
        tree_roots = []
        for (predictor,) in m._predictors:
            nodes = predictor.nodes
            n = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            idx = np.arange(n)
            kids = np.stack([np.where(leaf, idx, nodes["left"]), np.where(leaf, idx, nodes["right"])], axis=1)
            feature.append(np.where(leaf, 0, nodes["feature_idx"]))
            threshold.append(np.where(leaf, 0.0, nodes["num_threshold"]))
            children.append(kids + offset)
            value.append(np.where(leaf, nodes["value"], 0.0))
            tree_roots.append(offset)
            depth = max(depth, int(nodes["depth"].max()))
            offset += n
        roots.append(tree_roots)
        base.append(float(np.ravel(m._baseline_prediction)[0]))
    width = max(len(r) for r in roots)
    return Forest(feature=np.concatenate(feature).astype(np.int32), threshold=_floor32(np.concatenate(threshold)),
                  children=np.concatenate(children).astype(np.int32),
                  value=np.concatenate(value).astype(np.float32),
                  roots=np.array([r + [0] * (width - len(r)) for r in roots], dtype=np.int32),
                  base=np.array(base, dtype=np.float32), depth=depth)


def predict(forest: Forest, x: np.ndarray) -> np.ndarray:
    """(n, features) float32 -> (n, outputs) float32, in numpy, exactly as the Keras layer computes it."""
    x = np.asarray(x, dtype=np.float32)
    idx = np.broadcast_to(forest.roots.ravel(), (len(x), forest.roots.size))
    rows = np.arange(len(x))[:, None]
    for _ in range(forest.depth):
        right = x[rows, forest.feature[idx]] > forest.threshold[idx]
        idx = forest.children[idx, right.astype(np.int32)]
    leaves = forest.value[idx].reshape(len(x), *forest.roots.shape)
    return leaves.sum(axis=2, dtype=np.float32) + forest.base


_LAYER = None


def layer_class():
    """The Keras layer `TreeEnsemble` (registered as drumtimbre>TreeEnsemble), built lazily: Keras imports late."""
    global _LAYER
    if _LAYER is not None:
        return _LAYER
    import keras

    @keras.saving.register_keras_serializable(package="drumtimbre", name="TreeEnsemble")
    class TreeEnsemble(keras.layers.Layer):
        """Sum of regression trees per output plus a base: (batch, features) -> (batch, outputs).

        The trees are non-trained weights (saved with the model); `set_forest` fills them.
        """

        def __init__(self, nodes: int, outputs: int, trees: int, depth: int, **kwargs):
            super().__init__(**kwargs)
            self.nodes, self.outputs, self.trees, self.depth = int(nodes), int(outputs), int(trees), int(depth)
            self.feature = self.add_weight(shape=(self.nodes,), dtype="int32", initializer="zeros",
                                           trainable=False, name="feature")
            self.threshold = self.add_weight(shape=(self.nodes,), initializer="zeros", trainable=False,
                                             name="threshold")
            self.children = self.add_weight(shape=(2 * self.nodes,), dtype="int32", initializer="zeros",
                                            trainable=False, name="children")
            self.value = self.add_weight(shape=(self.nodes,), initializer="zeros", trainable=False, name="value")
            self.roots = self.add_weight(shape=(self.outputs * self.trees,), dtype="int32", initializer="zeros",
                                         trainable=False, name="roots")
            self.base = self.add_weight(shape=(self.outputs,), initializer="zeros", trainable=False, name="base")

        @classmethod
        def of(cls, forest: Forest, **kwargs) -> "TreeEnsemble":
            layer = cls(len(forest.value), forest.outputs, forest.roots.shape[1], forest.depth, **kwargs)
            layer.set_forest(forest)
            return layer

        def set_forest(self, forest: Forest) -> None:
            if (len(forest.value), forest.outputs, forest.roots.shape[1], forest.depth) != \
                    (self.nodes, self.outputs, self.trees, self.depth):
                raise ValueError(f"{self.name}: the forest does not fit this layer's shapes")
            self.feature.assign(forest.feature)
            self.threshold.assign(forest.threshold)
            self.children.assign(forest.children.ravel())
            self.value.assign(forest.value)
            self.roots.assign(forest.roots.ravel())
            self.base.assign(forest.base)

        def forest(self) -> Forest:
            """The trees this layer holds, as `set_forest` took them."""
            return Forest(feature=np.asarray(self.feature.numpy()), threshold=np.asarray(self.threshold.numpy()),
                          children=np.asarray(self.children.numpy()).reshape(-1, 2),
                          value=np.asarray(self.value.numpy()),
                          roots=np.asarray(self.roots.numpy()).reshape(self.outputs, self.trees),
                          base=np.asarray(self.base.numpy()), depth=self.depth)

        def call(self, x):
            ops = keras.ops
            idx = ops.zeros_like(x[:, :1], dtype="int32") + self.roots[None, :]  # (batch, trees)
            for _ in range(self.depth):
                right = ops.take_along_axis(x, ops.take(self.feature, idx), axis=1) > ops.take(self.threshold, idx)
                idx = ops.take(self.children, 2 * idx + ops.cast(right, "int32"))
            leaves = ops.reshape(ops.take(self.value, idx), (-1, self.outputs, self.trees))
            return ops.sum(leaves, axis=2) + self.base

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.outputs)

        def get_config(self):
            return {**super().get_config(), "nodes": self.nodes, "outputs": self.outputs, "trees": self.trees,
                    "depth": self.depth}

    _LAYER = TreeEnsemble
    return _LAYER


def onnx_node(forest: Forest, x: str, y: str, name: str = "trees"):
    """The forest as one ONNX-ML TreeEnsembleRegressor node: input `x` (batch, features) float32 -> `y`
    (batch, outputs) float32, computing exactly what `predict` does."""
    from onnx import helper

    feat, modes, node_ids, tree_ids, true_ids, false_ids, thr = [], [], [], [], [], [], []
    t_ids, t_nodes, t_trees, t_weights = [], [], [], []
    tree = 0
    for out in range(forest.outputs):
        for root in forest.roots[out]:
            if root == 0:  # padding
                continue
            local, order = {int(root): 0}, [int(root)]
            for n in order:  # breadth first; `order` grows as children are found
                left, right = (int(c) for c in forest.children[n])
                if left != n:
                    for c in (left, right):
                        local[c] = len(order)
                        order.append(c)
            for n in order:
                left, right = (int(c) for c in forest.children[n])
                leaf = left == n
                feat.append(0 if leaf else int(forest.feature[n]))
                modes.append("LEAF" if leaf else "BRANCH_LEQ")
                node_ids.append(local[n])
                tree_ids.append(tree)
                true_ids.append(0 if leaf else local[left])
                false_ids.append(0 if leaf else local[right])
                thr.append(0.0 if leaf else float(forest.threshold[n]))
                if leaf:
                    t_ids.append(out)
                    t_nodes.append(local[n])
                    t_trees.append(tree)
                    t_weights.append(float(forest.value[n]))
            tree += 1
    return helper.make_node(
        "TreeEnsembleRegressor", [x], [y], name=name, domain="ai.onnx.ml", n_targets=forest.outputs,
        nodes_featureids=feat, nodes_modes=modes, nodes_nodeids=node_ids, nodes_treeids=tree_ids,
        nodes_truenodeids=true_ids, nodes_falsenodeids=false_ids, nodes_values=thr,
        target_ids=t_ids, target_nodeids=t_nodes, target_treeids=t_trees, target_weights=t_weights,
        base_values=[float(b) for b in forest.base], aggregate_function="SUM", post_transform="NONE")
