"""`drumtimbre analyze --plot`: the recording with its hits and each descriptor per hit (realtime.hit_plot)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from realtime.hit_plot import DESCRIPTORS, HitRow, PlotError, check_path, envelope, file_envelope, plot_hits
from tests.jack_harness import DRUMTIMBRE, write_pattern
from tests.onnx_fixtures import write_fixture_model

mpimg = pytest.importorskip("matplotlib.image", reason="matplotlib not installed (the train extra has it)")


def test_envelope_keeps_each_columns_extremes():
    x = np.zeros(10_000, np.float32)
    x[1234], x[5678], x[9999] = 0.9, -0.7, 0.5  # single-sample spikes must survive the reduction
    env = envelope(x, 1000, columns=100)
    assert env.lo.size == env.hi.size == 100 and env.seconds == pytest.approx(10.0)
    assert env.hi[12] == pytest.approx(0.9) and env.lo[56] == pytest.approx(-0.7) and env.hi[99] == pytest.approx(0.5)
    assert env.times_s[12] == pytest.approx(1.2)
    assert np.count_nonzero(env.hi) == 2 and np.count_nonzero(env.lo) == 1


def test_nan_and_inf_are_drawn_as_silence_and_the_plot_is_written(tmp_path):
    x = np.zeros(8000, np.float32)
    x[100:200], x[300], x[500] = np.nan, np.inf, 0.4
    path = tmp_path / "bad_samples.wav"
    sf.write(str(path), x, 8000, subtype="FLOAT")
    env = file_envelope(path)
    assert np.isfinite(env.lo).all() and np.isfinite(env.hi).all() and env.hi.max() == pytest.approx(0.4)
    out = plot_hits(env, [HitRow(0, 0.06, -8.0, (50.0,) * 7)], tmp_path / "bad.png")
    assert mpimg.imread(out).shape[0] > 1000


def test_file_envelope_reads_in_blocks_and_mixes_the_chosen_channels(tmp_path):
    rng = np.random.default_rng(0)
    n = 48000 * 12  # several read blocks at the default 4000 columns
    left = (rng.uniform(-0.5, 0.5, n)).astype(np.float32)
    right = np.zeros(n, np.float32)
    right[n // 3] = 1.0
    path = tmp_path / "two.wav"
    sf.write(str(path), np.stack([left, right], axis=1), 48000, subtype="FLOAT")
    both = file_envelope(path)
    ref = envelope((left + right) / 2, 48000)
    np.testing.assert_allclose(both.lo, ref.lo, atol=1e-7)
    np.testing.assert_allclose(both.hi, ref.hi, atol=1e-7)
    assert both.seconds == pytest.approx(12.0)
    only_right = file_envelope(path, mix=(1,))
    assert np.count_nonzero(only_right.hi) == 1 and only_right.hi.max() == pytest.approx(1.0)


def _runs(idx: np.ndarray) -> list[np.ndarray]:
    """Pixel indices split where they jump by more than 3: one run per drawn line or band."""
    return np.split(idx, np.flatnonzero(np.diff(idx) > 3) + 1) if idx.size else []


def _red(img: np.ndarray) -> np.ndarray:
    """Where an RGB image holds matplotlib's tab:red (the onset lines)."""
    return (img[..., 0] > 0.7) & (img[..., 1] < 0.45) & (img[..., 2] < 0.45)


def _red_columns(png, rows: slice) -> np.ndarray:
    """x pixel indices, within `rows` of the image, holding tab:red."""
    return np.flatnonzero(_red(mpimg.imread(png)[rows, :, :3]).any(axis=0))


def test_plot_draws_a_line_at_each_onset_and_a_panel_per_descriptor(tmp_path):
    wave = envelope(np.zeros(4 * 16000, np.float32), 16000)
    values = (10.0, 90.0, 10.0, 90.0, 10.0, 90.0, 10.0)  # low, high, low ... in the 7 panels
    rows = [HitRow(i, t, -6.0, values) for i, t in enumerate((1.0, 2.0, 3.0))]
    out = plot_hits(wave, rows, tmp_path / "hits.png", title="three hits")
    img = mpimg.imread(out)
    assert img.shape[0] > 1000 and img.shape[1] > 800
    cols = _red_columns(out, slice(0, img.shape[0] // 6))  # the waveform panel, at the top
    groups = _runs(cols)
    centres = np.array([g.mean() for g in groups])
    assert len(groups) == 3, cols  # one line per hit, none elsewhere
    assert abs((centres[2] - centres[1]) - (centres[1] - centres[0])) <= 2  # evenly spaced, as 1, 2, 3 s
    # below it, each descriptor panel holds its hits' points (colours C0..C6, not the grey axes): 7 bands of
    # coloured rows; low in one panel, high in the next, so from a low band to the next (high) one is a short
    # step and from a high band to the next (low) one a long step
    body = img[img.shape[0] // 4:, :, :3]
    coloured = np.flatnonzero(((body.max(axis=2) - body.min(axis=2)) > 0.2).sum(axis=1))
    bands = _runs(coloured)
    assert len(bands) == len(DESCRIPTORS), [(b[0], b[-1]) for b in bands]
    steps = np.diff([b.mean() for b in bands])
    assert steps[0::2].max() < steps[1::2].min() - 50, steps  # 0.8 of a panel's height apart


def test_a_quiet_recording_fills_the_waveform_panel(tmp_path):
    """A take at -40 dBFS is drawn to its own peak, not as a flat line in a +-1 panel."""
    t = np.arange(2 * 8000) / 8000
    wave = envelope((0.01 * np.sin(2 * np.pi * 3 * t)).astype(np.float32), 8000)
    out = plot_hits(wave, [HitRow(0, 0.5, -40.0, (50.0,) * 7)], tmp_path / "quiet.png")
    img = mpimg.imread(out)[: mpimg.imread(out).shape[0] // 5, :, :3]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    wave_px = (b - r > 0.04) & (g > r) & (b > g) & (b < 0.9)  # the waveform's slate grey (#708090), not black/grey
    rows = np.flatnonzero(wave_px.any(axis=1))
    assert rows.size and rows[-1] - rows[0] > 0.6 * img.shape[0], (rows[:3], rows[-3:], img.shape)


def test_plot_names_a_bad_suffix():
    with pytest.raises(PlotError, match=r"hits\.txt"):
        check_path("hits.txt")


@pytest.fixture(scope="module")
def loop_and_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("plot")
    path = d / "loop.wav"
    truth = write_pattern(path, 4.0, hits_per_s=4.0, lead=0.25)
    return path, truth, write_fixture_model(d / "fixture.onnx")


def test_analyze_plot_writes_the_figure_beside_the_csv(loop_and_model, tmp_path):
    path, truth, model = loop_and_model
    png = tmp_path / "hits.png"
    out = subprocess.run(DRUMTIMBRE + ["analyze", str(path), "-o", str(tmp_path / "hits.csv"), "--model", str(model),
                                       "--plot", str(png)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"plot -> {png}" in out.stderr
    img = mpimg.imread(png)
    cols = _red_columns(png, slice(0, img.shape[0] // 6))
    assert len(_runs(cols)) == len(truth)


def test_analyze_refuses_a_bad_plot_name_before_running(loop_and_model, tmp_path):
    path, _, model = loop_and_model
    out = subprocess.run(DRUMTIMBRE + ["analyze", str(path), "--model", str(model), "--plot", str(tmp_path / "x.jpgg")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "x.jpgg" in out.stderr and "Traceback" not in out.stderr
    assert "hits (" not in out.stderr  # it stopped before the engine ran


def test_analyze_plot_without_matplotlib_says_what_to_install(loop_and_model, tmp_path):
    path, _, model = loop_and_model
    code = ("import sys; sys.modules['matplotlib'] = None; from drumtimbre.cli import main; "
            f"sys.exit(main(['analyze', {str(path)!r}, '--model', {str(model)!r}, '--plot', {str(tmp_path / 'p.png')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "pip install matplotlib" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "p.png").exists()


def test_onsets_plot_shows_detected_above_and_true_below(loop_and_model, tmp_path, capsys):
    from drumtimbre.cli import main

    path, truth, _ = loop_and_model
    marks = tmp_path / "truth.txt"
    marks.write_text("".join(f"{t:.6f}\n" for t in list(truth) + [3.9]))  # one true onset the audio lacks
    png = tmp_path / "onsets.png"
    assert main(["onsets", str(path), "-o", str(tmp_path / "found.txt"), "--truth", str(marks), "--plot", str(png)]) == 0
    found = np.loadtxt(tmp_path / "found.txt")
    img = mpimg.imread(png)[:, :, :3]
    h = img.shape[0]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = _red(img)
    green = (g > 0.45) & (r < 0.35) & (b < 0.35)

    def lines(mask):
        return len(_runs(np.flatnonzero(mask.any(axis=0))))

    upper, lower = slice(int(0.15 * h), int(0.45 * h)), slice(int(0.55 * h), int(0.8 * h))
    assert lines(red[upper]) == found.size and found.size == len(truth)
    assert lines(red[lower]) == 0 and lines(green[upper]) == 0
    assert lines(green[lower]) == found.size + 1  # every true onset, the one the audio lacks too
    assert "missed at: 3.900" in capsys.readouterr().err


def test_the_onsets_plot_draws_the_channels_the_onsets_were_found_in(tmp_path, monkeypatch, capsys):
    """`onsets --channels 1 --plot`: the waveform drawn is channel 1's, as heard (it drew the mix of all channels:
    for an out-of-phase stereo file, a flat line under every onset)."""
    import soundfile as sf

    from drumtimbre.cli import main
    from realtime import hit_plot
    from tests.signals import kick

    x = np.zeros(48000, np.float32)
    x[4800:4800 + 9600] = kick(48000)[:9600]
    wav = tmp_path / "inverted.wav"
    sf.write(str(wav), np.stack([x, -x], axis=1), 48000, subtype="FLOAT")
    drawn = []
    real = hit_plot.file_envelope
    monkeypatch.setattr(hit_plot, "file_envelope", lambda path, mix=None, **kw: drawn.append(real(path, mix, **kw))
                        or drawn[-1])
    assert main(["onsets", str(wav), "--channels", "1", "--plot", str(tmp_path / "o.png"), "-o",
                 str(tmp_path / "o.txt")]) == 0
    assert len(drawn) == 1 and np.max(drawn[0].hi) > 0.5, capsys.readouterr().err
