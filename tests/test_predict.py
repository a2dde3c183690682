"""`drumtimbre predict`: files and folders -> CSV of AudioCommons points; bad files reported, run goes on."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from drumtimbre.cli import main
from encoder.audio import model_input
from encoder.descriptors import DESCRIPTORS, clip_points, denormalise
from tests import signals
from tests.onnx_fixtures import reference_outputs, write_fixture_model

REPO = Path(__file__).resolve().parents[1]
HEADER = ["path", *DESCRIPTORS]


@pytest.fixture(scope="module")
def fixture_path(tmp_path_factory) -> Path:
    return write_fixture_model(tmp_path_factory.mktemp("m") / "fixture.onnx")


@pytest.fixture()
def audio_dir(tmp_path) -> Path:
    d = tmp_path / "hits"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "kick.wav", signals.kick(44100), 44100)
    sf.write(d / "sub" / "hat.flac", signals.hat(48000), 48000)
    (d / "sub" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (d / "notes.txt").write_text("not audio, not an audio extension either")
    return d


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_folder_to_csv(fixture_path, audio_dir, tmp_path, capsys):
    out = tmp_path / "out.csv"
    rc = main(["predict", str(audio_dir), "--model", str(fixture_path), "-o", str(out), "--no-progress"])
    assert rc == 1  # one file failed
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    assert header == HEADER  # exactly the issue's columns: users' scripts read them
    rows = {Path(r["path"]).name: r for r in _read(out)}
    assert sorted(rows) == ["broken.wav", "hat.flac", "kick.wav"]
    assert all(rows["broken.wav"][d] == "" for d in DESCRIPTORS)
    err = capsys.readouterr().err
    assert "broken.wav" in err and "cannot decode" in err
    for name, rel in (("kick.wav", "kick.wav"), ("hat.flac", "sub/hat.flac")):
        got = np.array([float(rows[name][d]) for d in DESCRIPTORS])
        x = model_input(audio_dir / rel)[None]
        expected = clip_points(denormalise(reference_outputs(x)))[0]
        np.testing.assert_allclose(got, expected, atol=2e-3)
        assert ((got >= 0) & (got <= 100)).all()


def test_all_good_files_exit_zero(fixture_path, tmp_path):
    a = tmp_path / "snare.wav"
    sf.write(a, signals.snare(16000), 16000)
    out = tmp_path / "o.csv"
    assert main(["predict", str(a), "-m", str(fixture_path), "-o", str(out), "--no-progress"]) == 0
    assert len(_read(out)) == 1


def test_missing_default_model_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DRUMTIMBRE_MODEL", str(tmp_path / "absent.onnx"))
    a = tmp_path / "kick.wav"
    sf.write(a, signals.kick(16000), 16000)
    assert main(["predict", str(a), "-o", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert f"DRUMTIMBRE_MODEL={tmp_path / 'absent.onnx'} names no file" in err, err  # not "does not exist yet"


def test_missing_input_and_bad_model_are_clear_errors(fixture_path, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nothing_here"), "-m", str(fixture_path)]) == 1
    assert "nothing_here: no such file or folder" in capsys.readouterr().err
    bare = write_fixture_model(tmp_path / "bare.onnx", with_contract=False)
    a = tmp_path / "k.wav"
    sf.write(a, signals.kick(16000), 16000)
    assert main(["predict", str(a), "-m", str(bare)]) == 1
    assert "bare.onnx" in capsys.readouterr().err


def test_predict_with_onnx_never_imports_tensorflow(fixture_path, tmp_path):
    a = tmp_path / "kick.wav"
    sf.write(a, signals.kick(44100), 44100)
    out = tmp_path / "o.csv"
    code = (
        "import sys\n"
        "from drumtimbre.cli import main\n"
        f"rc = main(['predict', {str(a)!r}, '-m', {str(fixture_path)!r}, '-o', {str(out)!r}])\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')]\n"
        "print('BAD', bad)\n"
        "sys.exit(rc or (3 if bad else 0))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_read(out)) == 1


@pytest.mark.slow
def test_predict_with_keras_model_matches_its_onnx_export(tmp_path):
    """A .keras model goes through Keras; its ONNX export gives the same CSV values."""
    from encoder.models import build
    from export.exporter import export_model
    from export.parity import generated_clips

    keras_path = tmp_path / "small.keras"
    model = build("small")
    model.save(keras_path)
    onnx_path = tmp_path / "small.onnx"
    export_model(model, onnx_path, "small", "none", clips=generated_clips(50))
    a = tmp_path / "hits"
    a.mkdir()
    sf.write(a / "kick.wav", signals.kick(44100), 44100)
    sf.write(a / "snare.wav", signals.snare(44100), 44100)
    for m, name in ((keras_path, "k.csv"), (onnx_path, "o.csv")):
        assert main(["predict", str(a), "-m", str(m), "-o", str(tmp_path / name), "--no-progress"]) == 0
    k, o = _read(tmp_path / "k.csv"), _read(tmp_path / "o.csv")
    assert [r["path"] for r in k] == [r["path"] for r in o]
    for rk, ro in zip(k, o):
        for d in DESCRIPTORS:
            assert abs(float(rk[d]) - float(ro[d])) <= 0.002


def test_a_file_name_that_is_not_utf8_is_predicted(fixture_path, tmp_path):
    """A name that is not valid UTF-8 (legal on Linux) used to stop `predict -o` with a UnicodeEncodeError
    after the rows before it (soundfile could not open it, then the CSV could not hold its name).  It is
    predicted like any other and its name written as its bytes, to a file or to stdout."""
    import os

    if os.name == "nt":
        pytest.skip("file names are Unicode on Windows")
    d = tmp_path / "hits"
    d.mkdir()
    sf.write(d / "a_first.wav", signals.kick(44100), 44100)
    sf.write(d / "z_last.wav", signals.hat(44100), 44100)
    odd = d / os.fsdecode(b"caf\xe9.wav")
    try:
        os.rename(d / "a_first.wav", odd)
    except OSError as exc:
        pytest.skip(f"this file system refuses a name that is not UTF-8 ({exc})")
    sf.write(d / "a_first.wav", signals.kick(44100), 44100)
    out = tmp_path / "o.csv"
    assert main(["predict", str(d), "-m", str(fixture_path), "-o", str(out), "--no-progress"]) == 0
    with open(out, newline="", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == [str(d / "a_first.wav"), str(odd), str(d / "z_last.wav")]
    assert [r[n] for n in DESCRIPTORS for r in rows[:1]] == [r[n] for n in DESCRIPTORS for r in rows[1:2]]
    proc = subprocess.run([sys.executable, "-m", "drumtimbre.cli", "predict", str(d), "-m", str(fixture_path),
                           "--no-progress"], capture_output=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == out.read_bytes()


def test_a_long_take_is_read_only_as_far_as_its_window_needs(fixture_path, tmp_path):
    """predict decodes a file's first second and a margin: a long take's prediction is that of the whole file
    prepared (to the CSV's 3 decimals), a NaN far past the window plays no part, and a FLAC whose header leaves its
    length unknown (libsndfile: 2**63 - 1 frames; it used to ask numpy for that much) is predicted too."""
    rate = 44100
    hits = np.zeros(4 * rate)
    for at, shot in ((0.1, signals.snare(rate)), (1.7, signals.kick(rate)), (3.0, signals.hat(rate))):
        i = int(at * rate)
        hits[i:i + shot.size] += shot[: hits.size - i]
    clean, late_nan = tmp_path / "take.wav", tmp_path / "late_nan.wav"
    sf.write(clean, hits, rate, subtype="FLOAT")
    bad = hits.copy()
    bad[int(2.5 * rate)] = np.nan
    sf.write(late_nan, bad, rate, subtype="FLOAT")
    flac, nolen = tmp_path / "stream.flac", tmp_path / "nolen.flac"
    sf.write(flac, hits, rate, subtype="PCM_24")  # (the intact one: the reference)
    signals.write_unknown_length_flac(hits, rate, nolen)
    assert sf.info(nolen).frames > 10 ** 15  # (what libsndfile makes of it)
    short, short_nolen = tmp_path / "short.flac", tmp_path / "short_nolen.flac"  # a one-shot: under READ_S long
    sf.write(short, hits[: int(0.5 * rate)], rate, subtype="PCM_24")
    signals.write_unknown_length_flac(hits[: int(0.5 * rate)], rate, short_nolen)
    out = tmp_path / "o.csv"
    assert main(["predict", str(clean), str(late_nan), str(nolen), str(short_nolen), "-m", str(fixture_path),
                 "-o", str(out), "--no-progress"]) == 0
    rows = [np.array([float(r[d]) for d in DESCRIPTORS]) for r in _read(out)]
    whole = np.stack([model_input(f) for f in (clean, clean, flac, short)])  # each file prepared whole
    np.testing.assert_allclose(np.stack(rows), clip_points(denormalise(reference_outputs(whole))), atol=2e-3)


def test_bad_options_exit_2_naming_the_value(fixture_path, tmp_path, capsys):
    a = tmp_path / "kick.wav"
    sf.write(a, signals.kick(16000), 16000)
    for option, value in (("--batch-size", "0"), ("--threads", "0")):
        assert main(["predict", str(a), "-m", str(fixture_path), option, value, "--no-progress"]) == 2
        assert f"{option} 0: must be >= 1" in capsys.readouterr().err
