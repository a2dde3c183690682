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


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    """A 3.5 s file of three slowly decaying toms 1 s apart at 48 kHz (no hit cuts the one before it short,
    and each still rings past 0.3 s): (path, true onset times in s)."""
    import soundfile as sf

    rate, times = 48000, np.array([0.25, 1.25, 2.25])
    audio = np.zeros(int(3.5 * rate), dtype=np.float32)
    t = np.arange(int(0.95 * rate)) / rate
    for k, (onset, f0) in enumerate(zip(times, (80.0, 130.0, 210.0))):
        click = np.random.default_rng(k).standard_normal(t.size) * np.exp(-t / 0.002) * 0.3
        tom = (np.sin(2 * np.pi * f0 * t) * np.exp(-t / 0.35) + click) * 0.6
        i = int(round(onset * rate))
        audio[i:i + t.size] += tom.astype(np.float32)
    path = tmp_path_factory.mktemp("sparse") / "sparse.wav"
    sf.write(str(path), audio, rate, subtype="FLOAT")
    return path, times


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def drumtimbre(*argv, timeout: float = 60, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(DRUMTIMBRE + [str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def ctrl_c_when(proc: subprocess.Popen, ready, settle_s: float = 0.0, check=None, timeout: float = 60,
                sig: str = "SIGINT") -> str:
    """Wait until ready() (or the process ends, or `timeout` s), `settle_s` more, assert check() if given, then
    Ctrl-C the process (or send it `sig`) and return its stderr (killed if it outlives the wait)."""
    import signal

    try:
        end = time.time() + timeout
        while not ready() and proc.poll() is None and time.time() < end:
            time.sleep(0.01)
        time.sleep(settle_s)
        assert check is None or check(), "not in the state the Ctrl-C is meant for"
        proc.send_signal(getattr(signal, sig))
        return proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            proc.kill()


def by_hit(rows: list[tuple]) -> np.ndarray:
    """Messages' arguments (hit id first) as an array, one row per message, sorted by hit id."""
    return np.array(sorted(rows, key=lambda a: a[0]), dtype=float)


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
    assert json.loads(stats.read_text())["hold_frames"] == 0  # and none held (a group asked for, a fast file)
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
    cfg.write_text('window = true\n')  # a TOML boolean is no number of seconds (Python's bool is an int)
    out = drumtimbre("listen", "--config", cfg, "--input", tmp_path / "none.wav")
    assert out.returncode == 2 and "bad.toml" in out.stderr and "'window' = True" in out.stderr, out.stderr
    cfg.write_text('input = "take.wav"\ndevice = "USB"\n')  # which one? as on the command line: an error
    out = drumtimbre("listen", "--config", cfg)
    assert out.returncode == 2 and "bad.toml: sets both input and device" in out.stderr, out.stderr


def test_config_values_out_of_range_are_refused_naming_file_and_key(tmp_path):
    """Values of the right type but no use (they used to pass, some silently: channels = [1.5] read as channel 1,
    osc = [] as the default destination; others failed later without the file's name)."""
    from realtime.config import ConfigError, load_config

    cfg = tmp_path / "vals.toml"
    for line in ('scale = "foo"', 'timetag = "later"', "window = 0", "window = 1.5", "early_ms = -1",
                 "preroll_ms = 99", "detect_rate = 44100", 'early_from = "x"', "group_ms = -3", 'group_ms = "soon"',
                 "osc = []", "osc = [9000]", 'osc = ["2001:db8::1"]', 'prefix = "nope"', "channels = [1.5]",
                 "channels = [true]", "channels = []", "channels = 0", "samplerate = 7000", "blocksize = 0",
                 "blocksize = 100000", "device = -1", 'model = ""'):
        cfg.write_text(line + "\n")
        key = line.split(" =")[0]
        with pytest.raises(ConfigError, match=f"vals.toml: option '{key}' = ") as caught:
            load_config(cfg)
        assert "Traceback" not in str(caught.value)
    cfg.write_text('scale = "audiocommons"\nwindow = 0.5\nchannels = [1, 2]\nosc = ["[::1]:9000", "h:1"]\n'
                   'detect_rate = 16000\ngroup_ms = "auto"\nsamplerate = 44100\nblocksize = 256\n')
    assert load_config(cfg)["channels"] == [1, 2]  # in range: taken
    with pytest.raises(ConfigError, match="a folder, not a config file"):
        load_config(tmp_path)
    cfg.write_text("early_ms = 5\nearly-ms = 25\n")  # the later one used to win, silently
    with pytest.raises(ConfigError, match="vals.toml: option 'early-ms' set twice"):
        load_config(cfg)


def test_the_command_line_device_overrides_the_files_input_and_a_slow_file_is_an_input_error(loop, model, tmp_path):
    import soundfile as sf

    path, _ = loop
    cfg = tmp_path / "file.toml"
    cfg.write_text(f'input = "{path}"\nrealtime = true\n')
    out = drumtimbre("listen", "--config", cfg, "--device", "no such device", "--model", model)
    assert out.returncode == 1 and "not both" not in out.stderr, out.stderr  # the device was looked for
    assert "no such device" in out.stderr or "no audio input devices" in out.stderr, out.stderr
    out = drumtimbre("listen", "--input", path, "--samplerate", "44100")
    assert out.returncode == 2 and "--samplerate applies to a device" in out.stderr, out.stderr
    slow = tmp_path / "slow.wav"
    sf.write(str(slow), np.zeros(4000, dtype=np.float32), 4000)
    for command in (["listen", "--input", slow, "--osc", "127.0.0.1:9"], ["analyze", slow, "-o", tmp_path / "h.csv"]):
        out = drumtimbre(*command, "--model", model)
        assert out.returncode == 1, (command[0], out.stderr)  # the input fails, no option is bad
        assert "slow.wav" in out.stderr and "sample rate 4000 Hz: need at least 8000 Hz" in out.stderr, out.stderr


def test_a_bad_onsets_table_is_refused_by_every_command_naming_file_and_key(loop, model, tmp_path):
    """Wrong types (a string, a boolean, a fraction where a count is wanted) and values out of range in the
    detector's [onsets] table: exit 2 with the file and the key named, never a traceback or a silent default."""
    path, _ = loop
    cfg = tmp_path / "det.toml"
    for table, named in (('n_bands = "x"', "n_bands"), ("log_gamma = true", "log_gamma"),
                         ("pre_frames = 2.5", "pre_frames"), ("ref_frames = -2", "ref_frames"),
                         ("window_s = 10", "window_s"), ("max_hz = -1", "max_hz"), ("agc_target = 3", "agc_target")):
        cfg.write_text(f"[onsets]\n{table}\n")
        for command in (["onsets", path, "-o", tmp_path / "t.txt"], ["analyze", path, "-o", tmp_path / "h.csv"],
                        ["listen", "--input", path, "--model", model, "--osc", "127.0.0.1:9"]):
            out = drumtimbre(*command, "--config", cfg)
            assert out.returncode == 2, (table, command[0], out.stderr)
            assert "det.toml" in out.stderr and named in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_options_that_shape_no_output_of_analyze_are_left_to_listen(tmp_path, model):
    """analyze writes no early estimate, so a window shorter than listen's default early one (25 ms) is fine;
    and of listen's config file it takes only the analysis settings: a device config's `channels = [1]` does not
    silence a file whose hits are on channel 2."""
    import soundfile as sf

    from tests.signals import kick, snare

    audio = np.zeros((int(1.5 * 48000), 2), dtype=np.float32)
    for t, s in ((0.2, kick(48000)), (0.9, snare(48000))):
        i = int(t * 48000)
        audio[i:i + s.size, 1] += s[:audio.shape[0] - i]
    path = tmp_path / "right.wav"
    sf.write(str(path), audio, 48000)
    cfg = tmp_path / "device.toml"
    cfg.write_text('device = "system"\nchannels = [1]\nblocksize = 64\nwindow = 0.5\n')
    out = drumtimbre("analyze", path, "-o", tmp_path / "h.csv", "--model", model, "--config", cfg, "--window", "0.02")
    assert out.returncode == 0, out.stderr
    rows = np.loadtxt(tmp_path / "h.csv", delimiter=",", skiprows=1, ndmin=2)
    assert np.allclose(rows[:, 1], [0.2, 0.9], atol=0.012)
    for bad in (["--early-ms", "nan"], ["--early-ms", "0", "--preroll-ms", "0"], ["--channels", "0"]):
        out = drumtimbre("listen", "--input", path, "--model", model, *bad)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (bad, out.stderr)
    out = drumtimbre("analyze", path, "-b", "0")
    assert out.returncode == 2 and "--blocksize 0: must be between 1 and 16384" in out.stderr
    # windows that would hold none of the hit: a final window no longer than its pre-roll, an early one of 0 ms
    out = drumtimbre("analyze", path, "-o", tmp_path / "none.csv", "--model", model, "--window", "0.02",
                     "--preroll-ms", "30")
    assert out.returncode == 2 and "hold none of the hit" in out.stderr, out.stderr
    short = tmp_path / "short.toml"
    short.write_text("window = 0.02\n")  # shorter than the default early window: says where each value came from
    out = drumtimbre("listen", "--input", path, "--model", model, "--config", short)
    assert out.returncode == 2 and "early_ms 25 ms (by default)" in out.stderr and f"(in {short})" in out.stderr, \
        out.stderr
    out = drumtimbre("listen", "--input", path, "--model", model, "--early-ms", "0")
    assert out.returncode == 2 and "--early-ms 0" in out.stderr and "more than 0" in out.stderr, out.stderr


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


def test_ctrl_c_during_analyze_still_writes_the_rows_found(tmp_path, model):
    from pathlib import Path

    from tests.jack_harness import default_sigint

    path = tmp_path / "long.wav"
    truth = write_pattern(path, 240.0, hits_per_s=5.0, lead=0.25)
    csv_path = tmp_path / "hits.csv"
    proc = subprocess.Popen(DRUMTIMBRE + ["analyze", str(path), "-o", str(csv_path), "--model", str(model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    def running() -> bool:  # the engine's worker thread exists: past start-up, the file is being analysed
        tasks = Path(f"/proc/{proc.pid}/task")
        try:
            return any((t / "comm").read_text().strip() == "dt-engine" for t in tasks.iterdir())
        except OSError:
            return False
    err = ctrl_c_when(proc, running, settle_s=0.5)
    assert proc.returncode == 130, err
    assert "long.wav: interrupted after" in err and "Traceback" not in err, err
    with open(csv_path) as f:
        rows = list(csv.reader(f))[1:]
    assert 0 < len(rows) < len(truth), (len(rows), err)
    onsets = np.array([float(r[1]) for r in rows])
    assert np.max(np.abs(onsets - truth[:len(rows)])) < 0.012  # the first hits of the file, in order


def test_sigterm_during_onsets_writes_the_onsets_found(tmp_path):
    """`drumtimbre onsets` on a long file, stopped by SIGTERM (a service manager, `timeout`) as by Ctrl-C: the onsets
    found so far are written, in order, and it exits 130 (it used to die with nothing written)."""
    import os

    path = tmp_path / "long.wav"
    truth = write_pattern(path, 600.0, hits_per_s=5.0, lead=0.25)  # about 10 s of work
    out = tmp_path / "times.txt"
    proc = subprocess.Popen(DRUMTIMBRE + ["onsets", str(path), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def reading() -> bool:  # the audio file is open: past start-up, the detector is running
        try:
            return any(os.readlink(f"/proc/{proc.pid}/fd/{fd}") == str(path)
                       for fd in os.listdir(f"/proc/{proc.pid}/fd"))
        except OSError:
            return False
    err = ctrl_c_when(proc, reading, settle_s=0.5, sig="SIGTERM")
    assert proc.returncode == 130, err
    assert "long.wav: interrupted after" in err and "Traceback" not in err, err
    onsets = np.loadtxt(out, ndmin=1)
    assert 0 < onsets.size < len(truth), (onsets.size, err)
    assert np.max(np.abs(onsets - truth[:onsets.size])) < 0.012  # the first hits of the file, in order


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
    stats = tmp_path / "stats.json"
    out = drumtimbre("listen", "--input", path, "--realtime", "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                     "--stats", stats)
    wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert wall >= 1.45
    time.sleep(0.2)
    assert len(receiver.args("/drumtimbre/timbre")) == 2
    # at real-time pace the worker holds quiet input (up to 32 ms at 48 kHz) besides its groups
    assert json.loads(stats.read_text())["hold_frames"] == 1536


def test_ctrl_c_sends_the_final_estimate_of_the_hit_still_sounding(tmp_path, model, receiver):
    import soundfile as sf

    from tests.jack_harness import default_sigint
    from tests.signals import kick, snare

    audio = np.zeros(6 * 48000, dtype=np.float32)
    for t, s in ((0.2, kick(48000)), (0.9, snare(48000))):
        i = int(t * 48000)
        audio[i:i + s.size] += 0.5 * s
    path = tmp_path / "long.wav"
    sf.write(str(path), audio, 48000)
    listen = subprocess.Popen(DRUMTIMBRE + ["listen", "--input", str(path), "--realtime", "--model", str(model),
                                            "--osc", f"127.0.0.1:{receiver.port}", "--no-display"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    # the snare's early estimate is out, its 1 s window (to 1.9 s of the file) still open: Ctrl-C
    err = ctrl_c_when(listen, lambda: len(receiver.args("/drumtimbre/early/timbre")) >= 2,
                      check=lambda: [a[0] for a in receiver.args("/drumtimbre/timbre")] == [0])
    assert listen.returncode == 0, err
    time.sleep(0.2)
    assert [a[0] for a in receiver.args("/drumtimbre/timbre")] == [0, 1], err
    assert "stopped: 2 hits, 2 early + 2 final estimates sent" in err


def test_corrupt_input_file_fails_clearly(tmp_path, model):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    out = drumtimbre("listen", "--input", bad, "--model", model)
    assert out.returncode != 0 and "corrupt.wav" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_a_file_cut_short_fails_after_the_hits_it_holds(loop, model, receiver, tmp_path, fmt):
    """A file whose second half is missing (a copy that stopped): listen sends the hits before the break,
    then names the file and exits 1; analyze still writes those hits, and onsets their onsets (and perhaps
    those of hits whose windows the break cut), then names the file and exits 1.  A FLAC fails to decode; a
    WAV reads as a shorter whole file (libsndfile says nothing), so its header's length is checked."""
    import soundfile as sf

    path, truth = loop
    audio, rate = sf.read(str(path), dtype="float32")
    whole = tmp_path / f"whole.{fmt}"
    sf.write(str(whole), audio, rate)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[:len(data) // 2])
    said = "cut.flac: read failed" if fmt == "flac" else "cut.wav: cut short: its header promises"
    out = drumtimbre("listen", "--input", cut, "--model", model, "--osc", f"127.0.0.1:{receiver.port}")
    assert out.returncode == 1 and said in out.stderr and "failed:" in out.stderr, out.stderr
    time.sleep(0.2)
    sent = by_hit(receiver.args("/drumtimbre/hit"))
    assert 3 <= sent.shape[0] < len(truth) and np.max(np.abs(sent[:, 1] - truth[:sent.shape[0]])) < 0.012
    table = tmp_path / "cut.csv"
    out = drumtimbre("analyze", cut, "-o", table, "--model", model)
    assert out.returncode == 1 and said in out.stderr, out.stderr
    rows = np.loadtxt(table, delimiter=",", skiprows=1, ndmin=2)
    assert rows.shape[0] == sent.shape[0] and np.allclose(rows[:, 1], sent[:, 1], atol=1e-4)  # nothing lost
    assert f"the {rows.shape[0]} hits finished before it" in out.stderr
    out = drumtimbre("onsets", cut, "-o", tmp_path / "cut.txt")  # the same detector, read the same way
    assert out.returncode == 1 and f"cut.{fmt}: read failed" in out.stderr, out.stderr
    found = np.loadtxt(tmp_path / "cut.txt", ndmin=1)
    assert found.size >= rows.shape[0] and np.allclose(found[:rows.shape[0]], rows[:, 1], atol=1e-4)


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


def test_analyze_writes_the_same_table_every_run(tmp_path):
    """The example recording through analyze three times (the shipped model): byte for byte the same CSV.  The
    worker used to take whatever the file reader had written, so the clean-up and resampler ran on groups that
    differed from run to run, and so did the model's batches: a few values differed in the 4th decimal."""
    tables = []
    for run in range(3):
        out = drumtimbre("analyze", REPO / "examples" / "loop.flac", "-o", tmp_path / f"run{run}.csv")
        assert out.returncode == 0, out.stderr
        tables.append((tmp_path / f"run{run}.csv").read_bytes())
    assert tables[0].count(b"\n") > 90 and tables[1] == tables[0] and tables[2] == tables[0]


def test_analyze_names_settings_out_of_range(loop, model):
    path, _ = loop
    for option, value, word in (("--window", "0", "--window 0.0: must be > 0"),
                                ("--preroll-ms", "-5", "--preroll-ms -5.0: must be between 0 and 50 ms")):
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

    code = ("import time\nfrom realtime.shutdown import shutdown_guard\n"
            "shutdown_guard(0.5)\ntime.sleep(30)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 130
    assert "shutdown took over" in proc.stderr


@pytest.mark.parametrize("second", ["SIGINT", "SIGTERM"])
def test_a_second_ctrl_c_or_sigterm_during_the_clean_up_exits_at_once(second):
    """During the clean-up after Ctrl-C (or SIGTERM) - the worker draining, maybe in native code - a second
    Ctrl-C or SIGTERM exits with 130 at once (os._exit), for analyze as for listen: no traceback, no
    interpreter tear-down under a running worker."""
    code = ("import os, signal, time\nfrom realtime.shutdown import shutdown_guard\n"
            f"shutdown_guard(20, command='analyze')\nos.kill(os.getpid(), signal.{second})\ntime.sleep(30)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20, cwd=REPO)
    assert proc.returncode == 130, proc.stderr
    assert "drumtimbre analyze: second Ctrl-C" in proc.stderr and "exiting without clean-up" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_timetag_onset_stamps_each_bundle_with_its_onset_and_every_destination_gets_every_bundle(loop, model,
                                                                                                 receiver):
    """--timetag onset: each bundle carries its hit's onset wall-clock time (with --input, which runs fast,
    the time the onset's block was read: within the run), the early and the final bundle of a hit the same
    one; every --osc destination gets every bundle; the early /hit carries its window's real peak level."""
    path, truth = loop
    other = Receiver()
    try:
        t0 = time.time()
        out = drumtimbre("listen", "--input", path, "--model", model, "--timetag", "onset",
                         "--osc", f"127.0.0.1:{receiver.port}", "--osc", f"127.0.0.1:{other.port}")
        t1 = time.time()
        assert out.returncode == 0, out.stderr
        time.sleep(0.2)
        for r in (receiver, other):
            assert len(r.bundles) == 2 * len(truth), (len(r.bundles), out.stderr)
        assert sorted(other.bundles) == sorted(receiver.bundles)  # the same datagrams
    finally:
        other.close()
    stamps: dict[int, list[float]] = {}
    for stamp, msgs in receiver.bundles:
        stamps.setdefault(msgs[0][1][0], []).append(stamp)  # the /hit message's hit id
    assert sorted(stamps) == list(range(len(truth)))
    for hit_id, pair in stamps.items():
        assert len(pair) == 2 and pair[0] == pair[1], (hit_id, pair)  # early and final: one onset
        assert t0 - 0.01 < pair[0] < t1, (hit_id, pair[0] - t0, t1 - t0)  # not 'immediately' (0), but now
    early = {a[0]: a[2] for a in receiver.args("/drumtimbre/early/hit")}
    final = {a[0]: a[2] for a in receiver.args("/drumtimbre/hit")}
    assert sorted(early) == sorted(final) == list(range(len(truth)))
    for k in final:  # the early window holds the attack, so nearly the final window's peak
        assert -60 < early[k] <= 0.1 and abs(early[k] - final[k]) < 3, (k, early[k], final[k])
    assert max(early.values()) - min(early.values()) > 6  # loud kicks and soft hats: levels, not a constant


def test_early_ms_sets_the_early_window_and_leaves_the_final_one(loop, model, receiver):
    path, truth = loop
    for ms in (5, 25):
        out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                         "--early-ms", ms, "--prefix", f"/e{ms}")
        assert out.returncode == 0, out.stderr
    time.sleep(0.2)
    early5, early25 = (by_hit(receiver.args(f"/e{ms}/early/timbre")) for ms in (5, 25))
    final5, final25 = (by_hit(receiver.args(f"/e{ms}/timbre")) for ms in (5, 25))
    assert early5.shape == early25.shape == final5.shape == (len(truth), 8)
    assert np.all(np.abs(early5[:, 1:] - early25[:, 1:]).max(axis=1) > 1e-3)  # every hit: another window
    assert np.allclose(final5, final25, rtol=0, atol=1e-5)  # (the groups differ: float32 rounding of the DC average)


def test_window_from_the_command_line_or_the_config_file_sets_the_final_window(sparse, model, receiver, tmp_path):
    """On hits 1 s apart (none cut short by the next), a 0.3 s window loses each tom's ringing tail."""
    path, truth = sparse
    cfg = tmp_path / "window.toml"
    cfg.write_text("window = 0.3\n")
    runs = {"/full": [], "/short": ["--window", "0.3"], "/config": ["--config", cfg]}
    for prefix, extra in runs.items():
        out = drumtimbre("listen", "--input", path, "--model", model, "--osc", f"127.0.0.1:{receiver.port}",
                         "--prefix", prefix, *extra)
        assert out.returncode == 0, out.stderr
    time.sleep(0.2)
    full, short, from_config = (by_hit(receiver.args(f"{p}/timbre")) for p in runs)
    assert full.shape == short.shape == from_config.shape == (len(truth), 8)
    onsets = by_hit(receiver.args("/full/hit"))[:, 1]
    assert np.max(np.abs(onsets - truth)) < 0.012
    assert np.all(np.abs(short[:, 1:] - full[:, 1:]).max(axis=1) > 0.01), (short, full)
    assert np.allclose(from_config, short, atol=1e-6)
    # the early estimates (25 ms) do not depend on the window
    assert np.allclose(by_hit(receiver.args("/short/early/timbre")), by_hit(receiver.args("/full/early/timbre")),
                       atol=1e-6)


def test_config_paths_are_taken_from_its_folder_and_osc_may_be_one_string(sparse, model, receiver, tmp_path):
    import shutil

    path, truth = sparse
    folder = tmp_path / "setup"
    (folder / "audio").mkdir(parents=True)
    shutil.copy(path, folder / "audio" / "toms.wav")
    shutil.copy(model, folder / "kit.onnx")
    (folder / "listen.toml").write_text('input = "audio/toms.wav"\nmodel = "kit.onnx"\nstats = "stats.json"\n'
                                        f'osc = "127.0.0.1:{receiver.port}"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = drumtimbre("listen", "--config", "../setup/listen.toml", cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    time.sleep(0.2)
    hits = by_hit(receiver.args("/drumtimbre/hit"))
    assert hits.shape == (len(truth), 3) and np.max(np.abs(hits[:, 1] - truth)) < 0.012
    assert len(receiver.args("/drumtimbre/timbre")) == len(truth)
    stats = json.loads((folder / "stats.json").read_text())  # next to the config, not in the cwd
    assert [h["hit"] for h in stats["hits"]] == list(range(len(truth))) and "toms.wav" in stats["source"]
    assert not (elsewhere / "stats.json").exists()


def test_analyze_scale_unit_writes_the_normalised_values(loop, model, tmp_path):
    from encoder.descriptors import normalise

    path, truth = loop
    tables = {}
    for scale in ("default", "unit"):
        out = drumtimbre("analyze", path, "-o", tmp_path / f"{scale}.csv", "--model", model,
                         *(["--scale", scale] if scale != "default" else []))
        assert out.returncode == 0, out.stderr
        tables[scale] = np.loadtxt(tmp_path / f"{scale}.csv", delimiter=",", skiprows=1)
    points, unit = tables["default"], tables["unit"]
    assert unit.shape == points.shape == (len(truth), 10)
    assert np.array_equal(unit[:, :3], points[:, :3])  # the same hits, onsets and peaks
    assert points[:, 3:].max() > 1.5  # the default is AudioCommons points
    assert np.all((unit[:, 3:] >= 0) & (unit[:, 3:] <= 1))
    assert np.allclose(unit[:, 3:], normalise(points[:, 3:]), atol=2e-4)  # the same values, 0-1


def test_a_file_name_that_is_not_utf8_is_heard(loop, model, tmp_path):
    """A name that is not valid UTF-8 (legal on Linux): soundfile could not open it (it encodes a str strictly),
    so onsets, analyze and listen --input said it could not be read."""
    import os
    import shutil

    if os.name == "nt":
        pytest.skip("file names are Unicode on Windows")
    path, truth = loop
    odd = tmp_path / os.fsdecode(b"caf\xe9.wav")
    try:
        shutil.copy(path, odd)
    except OSError as exc:
        pytest.skip(f"this file system refuses a name that is not UTF-8 ({exc})")
    out = subprocess.run(DRUMTIMBRE + ["onsets", str(odd)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert np.allclose(np.loadtxt(out.stdout.decode().splitlines()), truth, atol=0.012)
    out = subprocess.run(DRUMTIMBRE + ["analyze", str(odd), "-o", str(tmp_path / "h.csv"), "--model", str(model)],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "h.csv").read_text().splitlines()) == 1 + truth.size
    out = subprocess.run(DRUMTIMBRE + ["listen", "--input", str(odd), "--model", str(model), "--no-display",
                                       "--osc", "127.0.0.1:9"], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_no_command_writes_over_its_own_input(loop, model, tmp_path):
    """An output named like an input (a slip of the hand in `-o`) is refused before anything is written: the
    recording, the hand-made truth and the stats' input stay as they were."""
    import shutil

    take = tmp_path / "take.wav"
    shutil.copy(loop[0], take)
    truth = tmp_path / "marks.txt"
    truth.write_text("".join(f"{t:.6f}\n" for t in loop[1]))
    before = take.read_bytes(), truth.read_bytes()
    runs = [("analyze", take, "-o", take, "--model", model),
            ("onsets", take, "-o", take),
            ("onsets", take, "--truth", truth, "-o", truth),
            ("listen", "--input", take, "--model", model, "--no-display", "--osc", "127.0.0.1:9", "--stats", take),
            ("predict", loop[0], take, "-o", take, "--model", model)]
    for args in runs:
        out = drumtimbre(*args)
        assert out.returncode != 0 and "writing it would destroy it" in out.stderr, (args, out.stderr)
        assert (take.read_bytes(), truth.read_bytes()) == before, args
    own = tmp_path / "own.onnx"  # the model too
    shutil.copy(model, own)
    weights = own.read_bytes()
    for args in (("analyze", take, "-o", own, "--model", own), ("predict", take, "-o", own, "--model", own),
                 ("listen", "--input", take, "--model", own, "--no-display", "--osc", "127.0.0.1:9", "--stats", own)):
        out = drumtimbre(*args)
        assert out.returncode != 0 and "is also the model file" in out.stderr, (args, out.stderr)
        assert own.read_bytes() == weights, args
    out = drumtimbre("onsets", take, "-o", tmp_path / "x.png", "--plot", tmp_path / "x.png")
    assert out.returncode == 2 and "--plot and -o name the same file" in out.stderr, out.stderr


def test_a_flac_of_unknown_length_is_read_to_its_end(loop, model, tmp_path):
    """A FLAC whose header leaves its length unknown (written to a pipe): libsndfile reports 2**63 - 1 frames and
    cannot seek at its end, which soundfile does after every read; its last block was lost with 'read failed'
    (and the last hit with it).  Now every command reads it whole, as the same audio with a header."""
    import soundfile as sf

    from tests.signals import write_unknown_length_flac

    audio, rate = sf.read(loop[0], dtype="float32")
    whole, nolen = tmp_path / "whole.flac", tmp_path / "nolen.flac"
    sf.write(whole, audio, rate, subtype="PCM_24")
    write_unknown_length_flac(audio, rate, nolen)
    for name in (whole, nolen):
        out = drumtimbre("analyze", name, "-o", tmp_path / f"{name.stem}.csv", "--model", model)
        assert out.returncode == 0, out.stderr
        out = drumtimbre("onsets", name, "-o", tmp_path / f"{name.stem}.txt")
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "nolen.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert (tmp_path / "nolen.txt").read_text() == (tmp_path / "whole.txt").read_text()
    assert len((tmp_path / "nolen.txt").read_text().split()) == len(loop[1])
    out = drumtimbre("listen", "--input", nolen, "--model", model, "--no-display", "--osc", "127.0.0.1:9")
    assert out.returncode == 0 and "length unknown" in out.stderr, out.stderr
    assert f"{len(loop[1])} early + {len(loop[1])} final" in out.stderr, out.stderr
