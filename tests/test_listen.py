"""`drumtimbre listen --input`, `analyze` and the config file, as subprocesses against real receivers."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from encoder.descriptors import DESCRIPTORS
from tests.jack_harness import DRUMTIMBRE, REPO, write_pattern
from tests.onnx_fixtures import write_fixture_model
from tests.osc_receiver import Receiver


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_fixture_model(tmp_path_factory.mktemp("model") / "fixture.onnx")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """A 6 s generated drum loop at 48 kHz, 5 hits/s: (path, true onset times in s)."""
    path = tmp_path_factory.mktemp("loop") / "loop.wav"
    return path, write_pattern(path, 6.0, hits_per_s=5.0, lead=0.25)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def drumtimbre(*argv, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(DRUMTIMBRE + [str(a) for a in argv], capture_output=True, text=True, timeout=timeout)


def test_listen_input_sends_one_timbre_per_true_hit_and_ends_with_the_file(loop, model, receiver):
    path, truth = loop
    out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}")
    assert out.returncode == 0, out.stderr
    assert "non-finite" not in out.stderr  # no NaN/inf in the input: no such note
    time.sleep(0.2)
    timbre = receiver.args("/drumtimbre/timbre")
    assert len(timbre) == len(truth), (len(timbre), len(truth), out.stderr)
    assert [t[0] for t in timbre] == list(range(len(truth)))
    assert len(receiver.args("/drumtimbre/early/timbre")) == len(truth)
    onsets = np.array([h[1] for h in receiver.args("/drumtimbre/hit")])
    assert np.max(np.abs(onsets - truth)) < 0.012
    values = np.array([t[1:] for t in timbre])
    assert values.shape == (len(truth), 7) and np.all((values >= 0) & (values <= 1))
    for k, name in enumerate(DESCRIPTORS):  # per-descriptor messages carry the same numbers
        assert np.allclose([a[0] for a in receiver.args(f"/drumtimbre/{name}")], values[:, k], atol=1e-6)


def test_config_file_sets_options_and_the_command_line_overrides_it(loop, model, receiver, tmp_path):
    path, truth = loop
    cfg = tmp_path / "listen.toml"
    cfg.write_text(f'input = "{path}"\nmodel = "{model}"\nosc = ["127.0.0.1:{receiver.port}"]\n'
                   'prefix = "/fromconfig"\nscale = "audiocommons"\nwindow = 0.5\n')
    out = drumtimbre("listen", "--config", cfg, "--prefix", "/fromcli")
    assert out.returncode == 0, out.stderr
    time.sleep(0.2)
    assert not any(addr.startswith("/fromconfig") for addr, _ in receiver.got)
    timbre = receiver.args("/fromcli/timbre")
    assert len(timbre) == len(truth)
    points = np.array([t[1:] for t in timbre])
    assert points.max() > 1.5 and points.max() <= 100  # audiocommons scale from the config


def test_group_ms_from_the_command_line_or_the_config_file(loop, model, receiver, tmp_path):
    path, truth = loop
    stats = tmp_path / "stats.json"
    cfg = tmp_path / "group.toml"
    cfg.write_text("group_ms = 8\n")
    out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                     "--config", cfg, "--stats", stats)
    assert out.returncode == 0, out.stderr
    assert json.loads(stats.read_text())["group_frames"] == 384  # 8 ms at 48 kHz
    out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                     "--config", cfg, "--group-ms", "0", "--stats", stats)
    assert out.returncode == 0, out.stderr
    assert json.loads(stats.read_text())["group_frames"] == 0  # every block at once
    time.sleep(0.2)
    assert len(receiver.args("/drumtimbre/timbre")) == 2 * len(truth)  # every hit, either way
    for bad in ("soon", "-1"):
        out = drumtimbre("listen", "--input", path, "--model", model, "--group-ms", bad)
        assert out.returncode == 2 and repr(bad) in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_bad_config_is_refused_naming_file_and_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('windw = 1.0\n')
    out = drumtimbre("listen", "--config", cfg)
    assert out.returncode == 2 and "bad.toml" in out.stderr and "windw" in out.stderr
    cfg.write_text('window = "long"\n')
    out = drumtimbre("listen", "--config", cfg)
    assert out.returncode == 2 and "window" in out.stderr


def test_missing_non_onnx_and_contractless_models_fail_clearly(loop, tmp_path):
    path, _ = loop
    missing = tmp_path / "nope.onnx"
    out = drumtimbre("listen", "--input", path, "--model", missing)
    assert out.returncode != 0 and "nope.onnx" in out.stderr
    out = drumtimbre("listen", "--input", path, "--model", path)  # a WAV file
    assert out.returncode != 0 and "loop.wav" in out.stderr
    bare = write_fixture_model(tmp_path / "bare.onnx", with_contract=False)
    out = drumtimbre("analyze", path, "--model", bare)
    assert out.returncode != 0 and "bare.onnx" in out.stderr
    assert "Traceback" not in out.stderr


def test_analyze_writes_the_documented_csv_matching_listen(loop, model, receiver, tmp_path):
    path, truth = loop
    csv_path = tmp_path / "hits.csv"
    out = drumtimbre("analyze", path, "-o", csv_path, "--model", model)
    assert out.returncode == 0, out.stderr
    with open(csv_path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["hit", "onset_s", "peak_dbfs", "hardness", "depth", "brightness", "roughness", "warmth",
                       "sharpness", "boominess"]
    table = np.array(rows[1:], dtype=float)
    assert table.shape == (len(truth), 10)
    assert np.max(np.abs(table[:, 1] - truth)) < 0.012
    assert np.all(table[:, 2] <= 0.1) and np.all(table[:, 2] > -30)
    assert np.all((table[:, 3:] >= 0) & (table[:, 3:] <= 100)) and table[:, 3:].max() > 1.5
    # the same hits, the same numbers as listen sends with --scale audiocommons
    out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                     "--scale", "audiocommons")
    assert out.returncode == 0
    time.sleep(0.2)
    sent = np.array([t[1:] for t in receiver.args("/drumtimbre/timbre")])
    assert np.allclose(sent, table[:, 3:], atol=1e-3)


def test_analyze_finds_the_onsets_of_drumtimbre_onsets_at_any_block_size(loop, model, tmp_path):
    """The engine runs the detector `drumtimbre onsets` runs, on the input as it came (here with a DC offset
    and a dropout of NaNs): the same onset times, whatever the block size."""
    import soundfile as sf

    path, truth = loop
    audio, rate = sf.read(str(path), dtype="float32")
    audio = audio + np.float32(0.25)
    audio[int(2.02 * rate):int(2.05 * rate)] = np.nan
    n_bad = int(2.05 * rate) - int(2.02 * rate)
    odd = tmp_path / "offset_dropout.wav"
    sf.write(str(odd), audio, rate, subtype="FLOAT")
    out = drumtimbre("onsets", odd, "-o", tmp_path / "onsets.txt")
    assert out.returncode == 0, out.stderr
    onsets = np.loadtxt(tmp_path / "onsets.txt")
    assert len(truth) - 2 <= onsets.size <= len(truth)
    for block in (128, 1000):
        out = drumtimbre("analyze", odd, "-o", tmp_path / f"hits{block}.csv", "--model", model, "-b", block)
        assert out.returncode == 0, out.stderr
        assert f"; {n_bad} non-finite samples (taken as silence)" in out.stderr, out.stderr  # named in the summary
        with open(tmp_path / f"hits{block}.csv") as f:
            times = np.array([float(r["onset_s"]) for r in csv.DictReader(f)])
        assert times.size == onsets.size and np.max(np.abs(times - onsets)) < 1e-4, (block, times, onsets)


def test_realtime_flag_streams_at_real_time_pace(tmp_path, model, receiver):
    import soundfile as sf

    from tests.signals import kick, snare

    audio = np.zeros(int(1.5 * 48000), dtype=np.float32)
    for t, s in ((0.2, kick(48000)), (0.9, snare(48000))):
        i = int(t * 48000)
        audio[i:i + s.size] += s[:audio.size - i]
    path = tmp_path / "short.wav"
    sf.write(str(path), audio, 48000)
    t0 = time.perf_counter()
    out = drumtimbre("listen", "--input", path, "--realtime", "--model", model, "--osc", f"127.0.0.1:{receiver.port}")
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert wall >= 1.45
    time.sleep(0.2)
    assert len(receiver.args("/drumtimbre/timbre")) == 2


def test_corrupt_input_file_fails_clearly(tmp_path, model):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    out = drumtimbre("listen", "--input", bad, "--model", model)
    assert out.returncode != 0 and "corrupt.wav" in out.stderr and "Traceback" not in out.stderr


def test_analyze_makes_the_output_folder_and_refuses_an_impossible_one_before_running(loop, model, tmp_path):
    path, truth = loop
    nested = tmp_path / "new" / "folder" / "hits.csv"
    out = drumtimbre("analyze", path, "-o", nested, "--model", model)
    assert out.returncode == 0, out.stderr
    assert len(nested.read_text().splitlines()) == 1 + len(truth)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = drumtimbre("analyze", path, "-o", blocker / "hits.csv", "--model", model)
    assert out.returncode == 1 and "a_file" in out.stderr and "Traceback" not in out.stderr
    assert "hits (" not in out.stderr  # refused before the engine ran


def test_analyze_names_settings_out_of_range(loop, model):
    path, _ = loop
    for option, value, word in (("--window", "0", "window 0.0 s"), ("--preroll-ms", "-5", "pre-roll -5.0 ms")):
        out = drumtimbre("analyze", path, option, value, "--model", model)
        assert out.returncode == 2 and word in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_cli_modules_import_light():
    code = ("import sys, realtime.listen_cli, realtime.analyze_cli, realtime.devices_cli; "
            "heavy = [m for m in ('sounddevice', 'onnxruntime', 'tensorflow', 'rich', 'onnx', 'soxr', 'matplotlib') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_shutdown_that_hangs_after_ctrl_c_still_exits(tmp_path):
    """After Ctrl-C, listen's guard exits with 130 and says why when the clean-up hangs (an audio server
    that stopped answering), instead of leaving a stuck process behind."""
    import subprocess
    import sys

    code = ("import time\nfrom realtime.listen_cli import _shutdown_guard\n"
            "_shutdown_guard(0.5)\ntime.sleep(30)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 130
    assert "shutdown took over" in proc.stderr
