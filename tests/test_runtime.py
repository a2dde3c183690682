"""realtime.runtime: loading ONNX models with their contract, predicting, refusing bad models. No TensorFlow."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder.audio import pad, prepare
from encoder.descriptors import DESCRIPTORS, clip_points, denormalise
from export.contract import Contract, ContractError
from realtime.runtime import ModelError, OnnxModel, default_model_path, load_model, predict_files
from tests import signals
from tests.onnx_fixtures import build_fixture_model, reference_outputs, write_fixture_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fixture_path(tmp_path_factory) -> Path:
    return write_fixture_model(tmp_path_factory.mktemp("m") / "fixture.onnx")


def _hits() -> np.ndarray:
    """Three different generated hits as model inputs (3, 16000)."""
    clips = [signals.kick(16000), signals.snare(16000), signals.hat(16000)]
    return np.stack([pad(prepare(c, 16000).samples) for c in clips])


def test_predict_matches_the_graph_for_both_input_shapes(fixture_path):
    model = load_model(fixture_path, threads=1)
    assert isinstance(model, OnnxModel)
    assert model.contract.architecture == "test-fixture"
    x = _hits()
    out2 = model.predict(x)
    out3 = model.predict(x[:, :, None])
    assert out2.dtype == np.float32 and out2.shape == (3, len(DESCRIPTORS))
    np.testing.assert_allclose(out2, reference_outputs(x), atol=1e-5)
    np.testing.assert_array_equal(out2, out3)
    # the hits differ, so their predictions differ
    assert np.abs(out2[0] - out2[2]).max() > 1e-3


def test_predict_points_denormalises_with_the_contract_and_clips(fixture_path):
    model = load_model(fixture_path)
    x = _hits()
    expected = clip_points(denormalise(reference_outputs(x)))
    np.testing.assert_allclose(model.predict_points(x), expected, atol=1e-3)
    # to_points clips out-of-range normalised values to 0-100 (depth spans 0.14-100 points)
    pts = model.to_points(np.array([[-5.0] * 7, [5.0] * 7]))
    assert pts.min() == 0.0 and pts.max() == 100.0


def test_predict_rejects_wrong_input_shape(fixture_path):
    model = load_model(fixture_path)
    with pytest.raises(ValueError, match="16000"):
        model.predict(np.zeros((2, 8000), dtype=np.float32))
    assert model.predict(np.zeros((0, 16000), dtype=np.float32)).shape == (0, 7)


def test_missing_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match="nope.onnx.*not found"):
        load_model(missing)


def test_not_an_onnx_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not a protobuf" * 50)
    with pytest.raises(ModelError, match="garbage.onnx.*not a loadable ONNX model"):
        load_model(bad)


def test_a_keras_file_given_as_the_model_says_to_export_it(tmp_path):
    keras_file = tmp_path / "trained.keras"
    keras_file.write_bytes(b"PK\x03\x04" + b"\x00" * 200)  # a .keras file is a zip archive
    with pytest.raises(ModelError, match="trained.keras: not a loadable ONNX model.*drumtimbre export"):
        load_model(keras_file)


def test_model_without_contract_is_refused(tmp_path):
    path = write_fixture_model(tmp_path / "bare.onnx", with_contract=False)
    with pytest.raises(ContractError, match="bare.onnx.*not a drumtimbre model") as info:
        load_model(path)
    assert isinstance(info.value, ModelError)


def _with_metadata(tmp_path: Path, name: str, **changes) -> Path:
    import onnx
    from onnx import helper

    model = build_fixture_model(with_contract=False)
    contract = Contract(architecture="t", training_data="none", version="x", **changes)
    helper.set_model_props(model, contract.to_metadata())
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def test_model_for_another_sample_rate_or_window_is_refused(tmp_path):
    with pytest.raises(ModelError, match="sr44k.onnx.*44100 Hz"):
        load_model(_with_metadata(tmp_path, "sr44k.onnx", sample_rate=44100))
    with pytest.raises(ModelError, match="win8k.onnx.*8000 samples"):
        load_model(_with_metadata(tmp_path, "win8k.onnx", window_samples=8000))


def test_graph_names_must_match_the_contract(tmp_path):
    with pytest.raises(ModelError, match="names.onnx.*expected one input 'wave'"):
        load_model(_with_metadata(tmp_path, "names.onnx", input_name="wave"))
    with pytest.raises(ModelError, match="outname.onnx.*expected 'timbre'"):
        load_model(_with_metadata(tmp_path, "outname.onnx", output_name="timbre"))


def test_graph_shape_must_match(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from export.contract import INPUT_NAME, OUTPUT_NAME

    # (batch, 8000, 1) -> (batch, 7): the contract claims 16000, the graph takes 8000
    nodes = [helper.make_node("ReduceMean", [INPUT_NAME], ["m"], axes=[1], keepdims=0),
             helper.make_node("Tile", ["m", "reps"], [OUTPUT_NAME])]
    graph = helper.make_graph(
        nodes, "wrong", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 8000, 1])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 7])],
        initializer=[onnx.numpy_helper.from_array(np.array([1, 7], dtype=np.int64), "reps")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, Contract(architecture="t", training_data="n", version="x").to_metadata())
    path = tmp_path / "short.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"short.onnx.*shape \['batch', 8000, 1\]"):
        load_model(path)


def test_default_model_path_env(monkeypatch, tmp_path):
    monkeypatch.delenv("DRUMTIMBRE_MODEL", raising=False)
    assert default_model_path() == REPO / "models" / "default.onnx"
    monkeypatch.setenv("DRUMTIMBRE_MODEL", str(tmp_path / "x.onnx"))
    assert default_model_path() == tmp_path / "x.onnx"
    with pytest.raises(ModelError, match="x.onnx.*not found") as err:
        load_model()
    # listen and analyze load the default model here: the message says the variable is set, not "set it"
    assert f"DRUMTIMBRE_MODEL={tmp_path / 'x.onnx'} names no file" in str(err.value)


def test_predict_files_batches_keeps_order_and_reports_bad_files(fixture_path, tmp_path):
    model = load_model(fixture_path)
    sf.write(tmp_path / "a_kick.wav", signals.kick(44100), 44100)
    sf.write(tmp_path / "b_hat.flac", signals.hat(48000), 48000)
    (tmp_path / "c_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    sf.write(tmp_path / "d_silent.wav", np.zeros(4410, dtype=np.float32), 44100)
    sf.write(tmp_path / "e_snare.wav", signals.snare(22050), 22050)
    files = sorted(tmp_path.iterdir())
    rows = list(predict_files(model, files, batch_size=2))
    assert [r[0] for r in rows] == files
    by_name = {p.name: (pts, err) for p, pts, err in rows}
    assert by_name["c_broken.wav"][0] is None and "cannot decode" in by_name["c_broken.wav"][1]
    assert by_name["d_silent.wav"][0] is None and "silent" in by_name["d_silent.wav"][1]
    from encoder.audio import model_input

    for name in ("a_kick.wav", "b_hat.flac", "e_snare.wav"):
        pts, err = by_name[name]
        assert err == "" and pts.shape == (7,)
        expected = model.predict_points(model_input(tmp_path / name)[None])[0]
        np.testing.assert_allclose(pts, expected, atol=1e-4)
    assert np.abs(by_name["a_kick.wav"][0] - by_name["b_hat.flac"][0]).max() > 0.1


def test_predict_files_names_a_dc_offset_a_clipped_hit_and_a_constant_file(fixture_path, tmp_path):
    """A DC offset or a flat top still gets its row, with a warning; a constant file (no sound at any level) is
    refused as a silent one is; the same hits clean, and a low kick whose 16-bit crest repeats a sample or two
    (not clipped), get no warning."""
    model = load_model(fixture_path)
    snare = signals.snare(44100)
    snare *= 0.8 / np.max(np.abs(snare))
    t = np.arange(int(0.5 * 96000)) / 96000  # a 40 Hz body at 96 kHz: its 16-bit crest repeats a sample or more
    kick = (0.999 * np.sin(2 * np.pi * 40 * t + 1.87) * np.exp(-t / 2.0)).astype(np.float32)
    sf.write(tmp_path / "a_clean.wav", snare, 44100, subtype="PCM_16")
    sf.write(tmp_path / "b_dc.wav", snare + 0.3, 44100, subtype="FLOAT")
    sf.write(tmp_path / "c_clipped.wav", np.clip(snare * 8, -1, 1), 44100, subtype="PCM_16")
    sf.write(tmp_path / "d_constant.wav", np.full(4410, 0.5, np.float32), 44100, subtype="FLOAT")
    sf.write(tmp_path / "e_low_kick.wav", kick, 96000, subtype="PCM_16")
    crest, _ = sf.read(tmp_path / "e_low_kick.wav")
    assert np.sum(crest == crest.max()) >= 3  # equal samples at the peak, without clipping
    rows = {p.name: (pts, msg) for p, pts, msg in predict_files(model, sorted(tmp_path.iterdir()))}
    assert rows["a_clean.wav"][1] == "" and rows["e_low_kick.wav"][1] == ""
    pts, msg = rows["b_dc.wav"]
    assert pts is not None and msg.startswith("DC offset +0.3 (") and "clipped" not in msg
    pts, msg = rows["c_clipped.wav"]
    assert pts is not None and msg.startswith("clipped: ") and "equal samples in a row at its peak" in msg
    assert rows["d_constant.wav"] == (None, "no sound: every sample is 0.5 within 0.0001 (a constant offset)")


def test_importing_and_using_the_runtime_never_imports_tensorflow_or_scipy(fixture_path):
    """The run-time install (`pip install .`) has neither: the model, the engine and its onset detector
    run on numpy, soxr and ONNX Runtime alone."""
    code = (
        "import sys, numpy as np\n"
        "import realtime, realtime.runtime as rt, realtime.predict_cli, realtime.engine as eng\n"
        f"m = rt.load_model({str(fixture_path)!r}, threads=1)\n"
        "m.predict_points(np.zeros((1, 16000), np.float32))\n"
        "x = np.zeros(48000, np.float32); x[12000:12480] = np.random.default_rng(0).standard_normal(480)\n"
        "e = eng.Engine(m, 48000)\n"
        "out = [est for i in range(0, x.size, 128) for est in e.process_block(x[i:i + 128])] + e.finish()\n"
        "assert {est.kind for est in out} == {'early', 'final'}, out\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx', 'scipy')]\n"
        "print('BAD', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_thread_and_optimisation_settings(fixture_path):
    one = load_model(fixture_path, threads=1, optimization="disable")
    x = _hits()
    np.testing.assert_allclose(one.predict(x), load_model(fixture_path).predict(x), atol=1e-6)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        load_model(fixture_path, threads=0)
    with pytest.raises(ValueError, match="optimization 'max'"):
        load_model(fixture_path, optimization="max")
