"""Gradient-boosted trees in the model: flattening, the Keras layer, the ONNX node, band features, `drumtimbre blend`."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="blending needs TensorFlow (the 'train' extra)")
pytest.importorskip("tf2onnx", reason="export needs tf2onnx (the 'train' extra)")
pytest.importorskip("sklearn")

import keras  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402

from drumtimbre.cli import main  # noqa: E402
from encoder import blend, synth, trees  # noqa: E402
from encoder.descriptors import WINDOW_SAMPLES  # noqa: E402
from encoder.models import build, custom_objects  # noqa: E402
from export.exporter import export_model  # noqa: E402
from export.parity import MIN_CLIPS, parity_clips  # noqa: E402
from realtime.runtime import load_model  # noqa: E402
from tests.test_train import write_tiny_dataset  # noqa: E402


def _fitted(n_out: int = 3, n: int = 600, feats: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, feats)).astype(np.float32)
    y = np.stack([np.sin(2 * x[:, k]) + x[:, k + 1] ** 2 + 0.05 * rng.normal(size=n) for k in range(n_out)], axis=1)
    models = [HistGradientBoostingRegressor(max_iter=20 + 15 * k, loss="absolute_error", random_state=0,
                                            early_stopping=False).fit(x, y[:, k]) for k in range(n_out)]
    return models, rng.normal(size=(200, feats)).astype(np.float32)


def test_flattened_trees_predict_as_sklearn_numpy_keras_and_onnx(tmp_path):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    models, x = _fitted()
    forest = trees.from_sklearn(models)
    assert forest.roots.shape == (3, 50)  # 20, 35, 50 trees: the shorter outputs padded with the zero leaf
    want = np.stack([m.predict(x) for m in models], axis=1)
    got = trees.predict(forest, x)
    np.testing.assert_allclose(got, want, atol=2e-5)

    inp = keras.Input((x.shape[1],))
    model = keras.Model(inp, trees.layer_class().of(forest, name="trees")(inp))
    model.save(tmp_path / "t.keras")
    again = keras.saving.load_model(tmp_path / "t.keras", custom_objects=custom_objects(), compile=False)
    np.testing.assert_allclose(np.asarray(again(x)), got, atol=2e-5)

    graph = helper.make_graph([trees.onnx_node(forest, "x", "y")], "t",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, x.shape[1]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], got, atol=2e-5)


def test_thresholds_keep_every_float32_decision():
    t = np.array([0.1, -1.3, 2.0 / 3.0, 1e-8])
    f = trees._floor32(t)
    for ti, fi in zip(t, f):
        near = np.float32(ti) + np.arange(-3, 4) * np.spacing(np.float32(abs(ti)))
        assert [bool(v <= ti) for v in near] == [bool(v <= fi) for v in near]


def _clip(x: np.ndarray, delay: int = 0) -> np.ndarray:
    out = np.zeros(WINDOW_SAMPLES, np.float32)
    x = x[:WINDOW_SAMPLES - delay]
    out[delay:delay + len(x)] = x / np.abs(x).max() * 0.99
    return out


def test_band_features_follow_the_hit():
    net = build("logmel_reg")  # the front end is fixed: features need no training
    fm = blend.feature_model(net)
    kick, hat = synth.render("kick", 0), synth.render("hat", 0)
    f = blend.compute_features(fm, np.stack([_clip(kick), _clip(kick, 4000), _clip(hat)]))
    bands = net.get_layer("log_power").output.shape[-1]
    where, active, _, overall, _ = f[:, 3 * bands:].T
    assert abs((where[1] - where[0]) - 4000 / 128) <= 1.5  # 250 ms later = 31 frames of 8 ms
    assert overall[2] > overall[0] + 10  # the hat's band centroid lies far above the kick's
    assert f.shape == (3, 3 * bands + 5) and np.isfinite(f).all()


def _blend_inputs(seed: int, cut: int | None = None):
    """A fresh logmel_reg network, the parity clips (the first half cut to `cut` samples, zeros after), their band
    features, and labels the trees can learn (features rescaled to 0-1)."""
    keras.utils.set_random_seed(seed)
    net = build("logmel_reg")
    x, _ = parity_clips(MIN_CLIPS)
    if cut is not None:
        x[: len(x) // 2, cut:] = 0.0
    feats = blend.compute_features(blend.feature_model(net), x)
    y = np.clip(np.stack([(feats[:, k] - feats[:, k].min()) / np.ptp(feats[:, k]) for k in range(7)], 1), 0, 1)
    return net, x, feats, y


def _reloaded(model, path):
    """`model` saved as a .keras file at `path` and loaded again with drumtimbre's layers."""
    model.save(path)
    return keras.saving.load_model(path, custom_objects=custom_objects(), compile=False)


def test_a_blend_exports_with_parity_and_mixes_its_heads(tmp_path):
    net, x, feats, y = _blend_inputs(0)
    fit = blend.fit_forest(feats, y, max_iter=30)
    again = _reloaded(blend.blend_model(net, fit.forest, 0.3), tmp_path / "b.keras")
    assert blend.parts(again).weight == 0.3

    result = export_model(again, tmp_path / "b.onnx", "logmel_reg_blend", "test")
    assert result.parity.ok and "TreeEnsembleRegressor" in result.contract.extra["conversion"]
    onnx_out = load_model(tmp_path / "b.onnx").predict(x)
    want = 0.7 * np.asarray(net(x[..., None], training=False)) + 0.3 * trees.predict(fit.forest, feats)
    assert np.abs(onnx_out - want).mean() < 1e-4  # rare threshold flips from float rounding only


def test_share_by_length_follows_the_sounding_part_of_the_window():
    anchors = ((25.0, 0.1), (100.0, 0.3), (1000.0, 0.5))
    snare = _clip(synth.render("snare", 1))
    cut = {ms: np.where(np.arange(WINDOW_SAMPLES) < ms * 16, snare, 0.0).astype(np.float32) for ms in (10, 23, 50, 100)}
    x = np.stack([cut[10], cut[23], cut[50], cut[100], snare, np.zeros(WINDOW_SAMPLES, np.float32)])
    ms = blend.sounding_ms(x)
    np.testing.assert_allclose(ms[:4], [10, 24, 50, 100], atol=1e-9)  # the cut, to the end of its 2 ms block
    assert ms[4] > 100 and ms[5] == 2.0  # the whole snare rings on; silence: one block
    want = blend.share_by_length(ms, anchors)
    np.testing.assert_allclose(want[[0, 1, 3]], [0.1, 0.1, 0.3], atol=1e-9)  # constant below 25 ms; an anchor
    assert 0.1 < want[2] < 0.3 and abs(want[2] - (0.1 + 0.2 * np.log(2) / np.log(4))) < 1e-3  # linear in log(ms)
    layer = blend.share_layer_class()(anchors)
    np.testing.assert_allclose(np.asarray(layer(x[..., None]))[:, 0], want, atol=1e-5)
    with pytest.raises(ValueError, match="ascend"):
        blend.check_anchors([(100, 0.1), (25, 0.3)])
    with pytest.raises(ValueError, match="0-1"):
        blend.check_anchors([(25, 1.5)])


def test_a_blend_with_shares_by_length_exports_with_parity(tmp_path):
    net, x, feats, y = _blend_inputs(1, cut=800)  # half the clips cut 50 ms into the window, as an early estimate
    fit = blend.fit_forest(feats, y, max_iter=30)
    anchors = ((25.0, 0.0), (1000.0, 1.0))
    again = _reloaded(blend.blend_model(net, fit.forest, anchors), tmp_path / "b.keras")
    assert blend.parts(again).weight == anchors and blend.parts(again).share is not None

    result = export_model(again, tmp_path / "b.onnx", "logmel_reg_blend", "test")
    assert result.parity.ok and "0 at 25 ms, 1 at 1000 ms" in result.contract.extra["conversion"]
    onnx_out = load_model(tmp_path / "b.onnx").predict(x)
    w = blend.share_by_length(blend.sounding_ms(x), anchors)[:, None]
    assert w[: len(x) // 2].max() < w[len(x) // 2:].min()  # the cut clips lean on the network
    want = (1 - w) * np.asarray(net(x[..., None], training=False)) + w * trees.predict(fit.forest, feats)
    assert np.abs(onnx_out - want).mean() < 1e-4


def test_windows_of_at_most_24_ms_use_the_short_forest_in_keras_and_onnx(tmp_path):
    net, x, feats, y = _blend_inputs(2, cut=160)  # half the clips cut 10 ms into the window (sounding 10 ms)
    long, short = blend.fit_forest(feats, y, max_iter=20).forest, blend.fit_forest(feats, 1 - y, max_iter=20).forest
    anchors = ((8.0, 0.8), (25.0, 0.1), (1000.0, 0.5))
    again = _reloaded(blend.blend_model(net, long, anchors, short), tmp_path / "b.keras")
    found = blend.parts(again)
    assert found.short_forest is not None and found.weight == anchors

    ms = blend.sounding_ms(x)
    u = blend.share_by_length(ms, blend.SHORT_UNTIL)
    assert (u[: len(x) // 2] == 1).all() and (u[len(x) // 2:] == 0).all()
    w = blend.share_by_length(ms, anchors)[:, None]
    mixed = blend.trees_part(trees.predict(long, feats), trees.predict(short, feats), ms)
    assert np.allclose(mixed[: len(x) // 2], trees.predict(short, feats)[: len(x) // 2])
    want = (1 - w) * np.asarray(net(x[..., None], training=False)) + w * mixed
    assert np.abs(np.asarray(again(x[..., None], training=False)) - want).max() < 1e-4
    result = export_model(again, tmp_path / "b.onnx", "logmel_reg_blend", "test")
    assert result.parity.ok and "up to 24 ms" in result.contract.extra["conversion"]
    onnx_model = load_model(tmp_path / "b.onnx")
    for batch in (slice(None), slice(len(x) // 2, None), slice(0, len(x) // 2)):  # mixed, whole only, cut only
        assert np.abs(onnx_model.predict(x[batch]) - want[batch]).mean() < 1e-4
    with pytest.raises(ValueError, match="shares by sounding length"):
        blend.blend_model(net, long, 0.3, short)


def test_blend_cli_writes_a_run_that_exports(tmp_path, capsys):
    labels = write_tiny_dataset(tmp_path / "tiny", per_family=6)
    from encoder.train import TrainConfig, train

    train(TrainConfig(data=[str(labels)], arch="logmel_reg", out=tmp_path / "run", epochs=1, seed=0, batch_size=8,
                      progress=False))
    assert main(["blend", str(tmp_path / "run"), "--data", str(labels), "--out", str(tmp_path / "b"),
                 "--trees", "20", "--weight", "0.5", "--no-progress"]) == 0
    info = json.loads((tmp_path / "b" / "run.json").read_text())
    assert info["architecture"] == "logmel_reg_blend" and info["blend"]["weight"] == 0.5
    assert info["blend"]["trees_per_descriptor"] and "validation_mae" in info["blend"]
    assert (tmp_path / "b" / "split.csv").read_text() == (tmp_path / "run" / "split.csv").read_text()
    assert "short" not in info["blend"]  # a fixed weight: no short-window forest
    assert main(["export", str(tmp_path / "b"), "-o", str(tmp_path / "b.onnx")]) == 0
    assert "TreeEnsembleRegressor" in capsys.readouterr().out
    assert main(["blend", str(tmp_path / "run"), "--data", str(labels), "--out", str(tmp_path / "s"),
                 "--trees", "10", "--short-trees", "10", "--no-progress"]) == 0  # the default shares by length
    info = json.loads((tmp_path / "s" / "run.json").read_text())
    assert info["blend"]["short"]["cut_ms"] == [5.0, 25.0] and "8 ms" in info["blend"]["validation_mae"]
    assert "short windows (<= 24 ms)" in capsys.readouterr().out
    # --out naming a folder that holds a run (here the first blend): refused, its model kept, unless --overwrite
    kept = (tmp_path / "b" / "model.keras").read_bytes()
    again = ["blend", str(tmp_path / "run"), "--data", str(labels), "--out", str(tmp_path / "b"), "--trees", "5",
             "--short-trees", "0", "--no-progress"]
    assert main(again) == 1
    assert f"{tmp_path / 'b'} already holds a run" in capsys.readouterr().err
    assert (tmp_path / "b" / "model.keras").read_bytes() == kept
    assert main(again + ["--overwrite"]) == 0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["blend"]["weight"] != 0.5


def test_blend_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["blend", str(tmp_path), "--data", "x.csv", "--out", str(tmp_path / "o"), "--weight", "1.5"]) == 1
    assert "--weight 1.5" in capsys.readouterr().err
    bad = ["--weight", "100:0.1,25:0.3"]  # anchors not ascending
    assert main(["blend", str(tmp_path), "--data", "x.csv", "--out", str(tmp_path / "o"), *bad]) == 1
    assert "--weight 100:0.1,25:0.3" in capsys.readouterr().err
    assert main(["blend", str(tmp_path), "--data", "x.csv", "--out", str(tmp_path / "o")]) == 1
    assert "no model.keras" in capsys.readouterr().err
    net = build("small")
    with pytest.raises(ValueError, match="log-mel"):
        blend.feature_model(net)


def test_the_shipped_default_model_is_the_documented_blend_and_its_onnx_matches_its_keras():
    from pathlib import Path

    from encoder.blend_cli import DEFAULT_WEIGHT
    from export.keras_to_onnx import load_keras_model
    from export.parity import check_parity

    models = Path(__file__).resolve().parents[1] / "models"
    keras_model = load_keras_model(models / "default.keras")
    found = blend.parts(keras_model)
    assert found is not None and found.weight == DEFAULT_WEIGHT  # the shares README and model card state
    x, real = parity_clips(MIN_CLIPS)
    x[::2, 400:] = 0.0  # every other clip an early estimate's window (25 ms)
    onnx_model = load_model(models / "default.onnx")
    assert check_parity(keras_model, onnx_model, x, real, onnx_path=models / "default.onnx").ok


def test_blend_leaves_out_a_training_clip_that_fails_to_decode(tmp_path, capsys):
    """A training clip of the run whose samples were zeroed since (header intact: only decoding finds it) is left
    out of the fit and named; the blend goes on with the rest (it used to stop with exit 2)."""
    import soundfile as sf

    from encoder import splits
    from encoder.train import TrainConfig, train

    labels = write_tiny_dataset(tmp_path / "tiny", per_family=4)
    train(TrainConfig(data=[str(labels)], arch="logmel_reg", out=tmp_path / "run", epochs=1, seed=0, batch_size=8,
                      progress=False))
    split = splits.load(tmp_path / "run" / "split.csv")
    victim = sorted(p for p, s in split.items() if s == "train")[0]
    frames = sf.info(victim).frames
    sf.write(victim, np.zeros(frames), 16000, subtype="PCM_16")
    assert main(["blend", str(tmp_path / "run"), "--data", str(labels), "--out", str(tmp_path / "b"),
                 "--trees", "5", "--weight", "0.5", "--no-progress"]) == 0
    assert f"drumtimbre blend: warning: 1 file(s) left out, unreadable:\n  {victim}: silent" in capsys.readouterr().err
    n_train = sum(s == "train" for s in split.values())
    info = json.loads((tmp_path / "b" / "run.json").read_text())["blend"]
    assert info["training_clips"] == 2 * (n_train - 1)
    assert len(info["left_out"]) == 1 and info["left_out"][0].startswith(f"{victim}: silent")
