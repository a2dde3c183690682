"""Keras -> ONNX export: contract in the metadata, dynamic batch, parity on real kit clips, loud failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="export needs TensorFlow (the 'train' extra)")
pytest.importorskip("tf2onnx", reason="export needs tf2onnx (the 'train' extra)")

import keras  # noqa: E402

from drumtimbre import __version__  # noqa: E402
from drumtimbre.cli import main  # noqa: E402
from encoder.models import ARCHITECTURES, build  # noqa: E402
from export import exporter  # noqa: E402
from export.keras_to_onnx import load_keras_source  # noqa: E402
from export.parity import MIN_CLIPS, ParityError, check_parity, keras_outputs, parity_clips  # noqa: E402
from realtime.runtime import load_model  # noqa: E402


@pytest.fixture(scope="module")
def clips() -> tuple[np.ndarray, int]:
    """The default parity set: real Debian kit one-shots (generated hits only where too few are installed)."""
    return parity_clips(MIN_CLIPS)


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(1)
    return build("small")


def test_parity_clips_are_real_distinct_prepared_hits(clips):
    x, real = clips
    assert x.shape == (MIN_CLIPS, 16000) and x.dtype == np.float32
    peaks = np.abs(x).max(axis=1)
    np.testing.assert_allclose(peaks, 0.99, atol=1e-3)  # peak-normalised, as the model sees them
    assert len({row.tobytes() for row in x}) == len(x)
    if Path("/usr/share/hydrogen/data/drumkits").is_dir():
        assert real == MIN_CLIPS


def test_export_writes_contract_and_dynamic_batch(small_model, clips, tmp_path):
    out = tmp_path / "small.onnx"
    result = exporter.export_model(small_model, out, "small", "synth 100 clips", clips=clips[0], real_clips=clips[1])
    assert out.is_file() and result.parity.ok and result.parity.clips == MIN_CLIPS
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's private 0600
    m = load_model(out)
    c = m.contract
    assert (c.architecture, c.training_data, c.version) == ("small", "synth 100 clips", __version__)
    assert c.extra["opset"] == "17" and c.extra["parameters"] == str(small_model.count_params())
    inp, outp = m.session.get_inputs()[0], m.session.get_outputs()[0]
    assert (inp.name, outp.name) == ("audio", "descriptors")
    assert inp.shape == ["batch", 16000, 1] and outp.shape == ["batch", 7]
    x = clips[0]
    expected = keras_outputs(small_model, x[:5])
    np.testing.assert_allclose(m.predict(x[:1]), expected[:1], atol=1e-4)
    np.testing.assert_allclose(m.predict(x[:5]), expected, atol=1e-4)
    assert np.abs(expected[0] - expected[1]).max() > 1e-4  # the check compares outputs that actually vary


def test_parity_failure_is_loud_and_leaves_no_file(small_model, clips, tmp_path, monkeypatch):
    """A conversion that does not match the Keras model (here: another model's weights) is refused."""
    keras.utils.set_random_seed(2)
    other = build("small")
    import export.keras_to_onnx as k2o  # exporter imports to_onnx from here at call time

    original = k2o.to_onnx
    monkeypatch.setattr(k2o, "to_onnx", lambda model, opset=17, **kw: original(other, opset, **kw))
    out = tmp_path / "wrong.onnx"
    out.write_bytes(b"previous file")
    with pytest.raises(ParityError, match="differ by up to"):
        exporter.export_model(small_model, out, "small", "none", clips=clips[0], real_clips=clips[1])
    assert out.read_bytes() == b"previous file"  # not replaced by the bad export
    assert [p.name for p in tmp_path.iterdir()] == ["wrong.onnx"]  # no temporary left behind


def test_check_parity_needs_enough_clips(small_model, clips, tmp_path):
    out = tmp_path / "s.onnx"
    exporter.export_model(small_model, out, "small", "none", clips=clips[0], real_clips=clips[1])
    with pytest.raises(ParityError, match="at least 50 clips"):
        check_parity(small_model, load_model(out), clips[0][:10], 10)


def test_cli_exports_a_run_dir(small_model, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    small_model.save(run / "model.keras")
    (run / "run.json").write_text(json.dumps({"architecture": "small", "training_data": "debian kits 925 clips"}))
    out = tmp_path / "models" / "exported.onnx"
    assert main(["export", str(run), "-o", str(out), "--parity-clips", "50"]) == 0
    assert "parity on 50 clips" in capsys.readouterr().out
    c = load_model(out).contract
    assert (c.architecture, c.training_data) == ("small", "debian kits 925 clips")
    assert c.extra["source"] == str(run / "model.keras")


def test_bare_keras_file_uses_model_name_and_unknown_data(small_model, tmp_path):
    path = tmp_path / "m.keras"
    small_model.save(path)
    src = load_keras_source(path)
    assert (src.architecture, src.training_data) == ("small", "unknown")
    assert load_keras_source(path, training_data="my kit").training_data == "my kit"


def test_bad_sources_are_clear_errors(tmp_path, capsys):
    out = str(tmp_path / "x.onnx")
    assert main(["export", str(tmp_path / "missing.keras"), "-o", out]) == 1
    assert "missing.keras: no such file" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"not a zip")
    assert main(["export", str(run), "-o", out]) == 1
    assert "run folder has no run.json" in capsys.readouterr().err
    (run / "run.json").write_text("{}")
    assert main(["export", str(run), "-o", out]) == 1
    assert "model.keras: not a Keras model file" in capsys.readouterr().err
    assert main(["export", str(run), "-o", str(tmp_path / "x.txt")]) == 1
    assert "must end in .onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_an_unsupported_opset_is_refused_before_tensorflow_loads(tmp_path):
    code = ("import sys; from drumtimbre.cli import main; "
            f"rc = main(['export', {str(tmp_path / 'run')!r}, '-o', {str(tmp_path / 'x.onnx')!r}, '--opset', '12']); "
            "print(rc, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["1", "False"], done.stdout + done.stderr
    assert "--opset 12: supported 13-18" in done.stderr


def test_export_rebuilds_an_older_front_end_and_simplifies_the_graph(clips, tmp_path):
    """A log-mel model trained with the framed front end exports in the factored form, through a cleaned-up
    graph (3-D MatMuls, Conv biases folded in, no Squeeze/Unsqueeze between convolutions), with parity
    against the original Keras model."""
    import onnx

    from encoder.models import _logmel_cnn

    keras.utils.set_random_seed(4)
    framed = _logmel_cnn("logmel", 48, (64, 64, 64, 64), 64, front_end="framed")  # logmel(), older form
    rng = np.random.default_rng(4)
    for layer in framed.layers:  # trained-looking weights: non-zero biases everywhere
        if layer.trainable_weights:
            layer.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()])
    out = tmp_path / "logmel.onnx"
    result = exporter.export_model(framed, out, "logmel", "none", clips=clips[0], real_clips=clips[1])
    note = result.contract.extra["conversion"]
    assert "framed -> factored" in note and "conv_bias_through_squeeze x4" in note, note
    assert result.parity.max_abs <= 1e-4
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    # one Unsqueeze/Squeeze pair around the Gabor Conv, one around the whole conv stack (5 pairs unsimplified)
    assert ops.count("Conv") == 5 and ops.count("Unsqueeze") == ops.count("Squeeze") == 2
    assert "Shape" not in ops and ops.count("Add") < 8  # no Tensordot shape arithmetic, no separate bias adds
    assert load_model(out).contract.extra["conversion"] == note


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_exports_with_parity(arch, clips, tmp_path):
    """Every architecture (randomly initialised) converts, and ONNX Runtime matches Keras within 1e-4 on 50 kit clips."""
    keras.utils.set_random_seed(0)
    model = build(arch)
    result = exporter.export_model(model, tmp_path / f"{arch}.onnx", arch, "none", clips=clips[0],
                                   real_clips=clips[1])
    assert result.parity.clips >= MIN_CLIPS
    assert result.parity.max_abs <= 1e-4
    assert load_model(result.path).contract.architecture == arch


def test_a_keras_file_that_is_no_zip_is_named_as_such(tmp_path):
    """Keras says "File not found" of a .keras file that exists but is not a zip archive."""
    from export.keras_to_onnx import load_keras_model

    bad = tmp_path / "notmodel.keras"
    bad.write_bytes(b"not a zip archive" * 20)
    with pytest.raises(ValueError, match="notmodel.keras: not a Keras model file"):
        load_keras_model(bad)
