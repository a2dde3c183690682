"""Evaluation: exact MAE against a known model, median baseline, window lengths, report and plot."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder import synth
from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, denormalise, points_per_unit
from encoder.evaluate import WINDOWS_MS, evaluate, load_predictor, truncate
from encoder.manifest import read_label_csv
from tests.onnx_fixtures import reference_outputs, write_fixture_model

OFFSET = 0.05
"""Labels are the fixture model's own outputs shifted by this many normalised units."""


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[Path, Path]:
    """(label CSV, fixture ONNX model): labels = model output on the full clip + OFFSET."""
    root = tmp_path_factory.mktemp("eval")
    model = root / "fixture.onnx"
    write_fixture_model(model)
    rows = []
    for i, family in enumerate(("kick", "snare", "hat", "cymbal", "tom", "clap")):
        x = synth.render(family, i)
        path = root / "kit" / f"{family}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, x, SAMPLE_RATE, subtype="FLOAT")
        padded = np.zeros(16000, np.float32)
        padded[:len(x)] = x
        rows.append([str(path), *denormalise(reference_outputs(padded[None])[0] + OFFSET), ""])
    csv_path = root / "labels.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", *DESCRIPTORS, "error"])
        w.writerows(rows)
    return csv_path, model


def test_onnx_path_gives_the_exact_mae_without_tensorflow(labelled):
    from encoder.dataset import load_audio

    csv_path, model = labelled
    m = read_label_csv(csv_path)
    x = load_audio(m, progress=False)
    report, pred = evaluate(load_predictor(model), m, x, m.labels(), "evaluated clips")
    assert report["clips"] == 6
    assert report["mae"] == pytest.approx(OFFSET, abs=1e-4)
    for name, ppu in zip(DESCRIPTORS, points_per_unit()):
        assert report["per_descriptor"][name]["mae"] == pytest.approx(OFFSET, abs=1e-4)
        assert report["per_descriptor"][name]["mae_points"] == pytest.approx(OFFSET * ppu, rel=1e-3)
    assert report["by_window_ms"]["1000"]["mae"] == pytest.approx(OFFSET, abs=1e-4)
    short = reference_outputs(truncate(x, 25))
    expected25 = np.abs(short - (reference_outputs(x) + OFFSET)).mean()
    assert report["by_window_ms"]["25"]["mae"] == pytest.approx(expected25, rel=1e-4)
    assert report["by_window_ms"]["25"]["mae"] > report["by_window_ms"]["1000"]["mae"]
    assert set(report["by_window_ms"]) == {str(ms) for ms in WINDOWS_MS}
    assert report["median_baseline"]["source"] == "evaluated clips"
    median = np.median(m.labels(), axis=0)
    expected_median = np.abs((m.labels() - median) / points_per_unit()).mean()
    assert report["median_baseline"]["mae"] == pytest.approx(expected_median, rel=1e-6)


def test_onnx_evaluation_never_imports_tensorflow(labelled):
    csv_path, model = labelled
    code = ("import sys; from encoder.evaluate import load_predictor, evaluate; from encoder.dataset import load_audio; "
            "from encoder.manifest import read_label_csv; m = read_label_csv(sys.argv[1]); "
            "evaluate(load_predictor(sys.argv[2]), m, load_audio(m, progress=False), m.labels(), 'x'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    import subprocess

    done = subprocess.run([sys.executable, "-c", code, str(csv_path), str(model)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr


def test_cli_writes_report_and_seven_panel_plot(labelled, tmp_path, capsys):
    from drumtimbre.cli import main

    csv_path, model = labelled
    assert main(["evaluate", "--model", str(model), "--data", str(csv_path), "--out", str(tmp_path),
                 "--no-progress"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("mae", "mae_points", "per_descriptor", "median_baseline", "by_window_ms", "by_source", "clips",
                "split", "model"):
        assert key in report
    assert report["split"] == "all" and report["by_source"]["labels.csv"]["clips"] == 6
    png = (tmp_path / "scatter.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    assert mpimg.imread(tmp_path / "scatter.png").shape[1] > 1000  # 4 panels wide
    assert "MAE 0.05" in capsys.readouterr().out


def test_split_of_a_run_and_training_median(labelled, tmp_path, capsys):
    from drumtimbre.cli import main

    csv_path, model = labelled
    m = read_label_csv(csv_path)
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "split.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "group", "split"])
        for i, r in enumerate(m.records):
            w.writerow([r.path, r.group, "test" if i < 2 else "train"])
    assert main(["evaluate", "--model", str(model), "--data", str(csv_path), "--run", str(run),
                 "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["clips"] == 2 and report["split"] == "test"
    assert report["median_baseline"]["source"] == "median of the run's 4 training labels"
    np.testing.assert_allclose(report["median_baseline"]["median_points"], np.median(m.labels()[2:], axis=0))
    assert "warning" not in capsys.readouterr().err
    with open(run / "split.csv", "w", newline="") as f:  # a split that knows only some of the clips
        w = csv.writer(f)
        w.writerow(["path", "group", "split"])
        for i, r in enumerate(m.records[:4]):
            w.writerow([r.path, r.group, "test" if i < 2 else "train"])
    assert main(["evaluate", "--model", str(model), "--data", str(csv_path), "--run", str(run),
                 "--out", str(tmp_path / "e2"), "--no-progress"]) == 0
    assert f"warning: 2 of the 6 --data clips are in no split of {run / 'split.csv'}" in capsys.readouterr().err


def test_bad_inputs_are_named(labelled, tmp_path, capsys):
    from drumtimbre.cli import main

    csv_path, _ = labelled
    bogus = tmp_path / "model.h5"
    bogus.write_bytes(b"nope")
    assert main(["evaluate", "--model", str(bogus), "--data", str(csv_path)]) == 2
    assert "unknown model format" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "none.onnx"), "--data", str(csv_path)]) == 2
    assert "none.onnx: no such model file" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(bogus), "--data", str(csv_path), "--split", "test"]) == 2
    assert "--split needs --run" in capsys.readouterr().err
    not_zip = tmp_path / "model.keras"
    not_zip.write_bytes(b"not a zip")
    assert main(["evaluate", "--model", str(not_zip), "--data", str(csv_path)]) == 2
    err = capsys.readouterr().err
    assert "model.keras: not a Keras model file" in err and "Traceback" not in err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["evaluate", "--model", str(bogus), "--data", str(csv_path), "--out", str(afile)]) == 2
    assert f"--out {afile} is a file, not a folder" in capsys.readouterr().err


def test_an_unreadable_clip_is_left_out_and_named_not_fatal(labelled, tmp_path, capsys):
    """One empty and one corrupt audio file among labelled clips (a broken download in a 10,000-clip dataset):
    evaluate goes on with the rest, names each and counts them (it used to stop with exit 2)."""
    from drumtimbre.cli import main
    from encoder.dataset import drop_unreadable

    csv_path, model = labelled
    rows = list(csv.reader(open(csv_path, newline="")))
    empty, corrupt = tmp_path / "empty.wav", tmp_path / "corrupt.wav"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk")
    more = tmp_path / "more.csv"
    with open(more, "w", newline="") as f:
        w = csv.writer(f)
        w.writerows(rows + [[str(empty), *rows[1][1:]], [str(corrupt), *rows[2][1:]]])
    kept, reasons = drop_unreadable(read_label_csv(more))
    assert len(kept) == len(rows) - 1 and kept.excluded["unreadable audio"] == 2
    assert reasons[0].startswith(f"{empty}: cannot decode audio") and reasons[1].startswith(str(corrupt))
    assert main(["evaluate", "--model", str(model), "--data", str(more), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: 2 file(s) left out, unreadable:" in err  # each named, not only the first
    assert f"\n  {empty}: cannot decode audio" in err and f"\n  {corrupt}: cannot decode audio" in err
    assert json.loads((tmp_path / "e" / "report.json").read_text())["clips"] == len(rows) - 1


def test_two_label_csvs_of_one_name_are_reported_apart(labelled, tmp_path, capsys):
    """`--data x/labels.csv y/labels.csv`: one by_source entry each, named by as much of their paths as tells
    them apart (they used to merge into one 'labels.csv' entry of every clip)."""
    from drumtimbre.cli import main

    csv_path, model = labelled
    rows = list(csv.reader(open(csv_path, newline="")))
    for folder, part in (("x", rows[1:3]), ("y", rows[3:])):
        (tmp_path / folder).mkdir()
        with open(tmp_path / folder / "labels.csv", "w", newline="") as f:
            csv.writer(f).writerows([rows[0], *part])
    assert main(["evaluate", "--model", str(model), "--data", str(tmp_path / "x/labels.csv"),
                 str(tmp_path / "y/labels.csv"), "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert {k: v["clips"] for k, v in report["by_source"].items()} == {"x/labels.csv": 2, "y/labels.csv": 4}
    for name in ("x/labels.csv", "y/labels.csv"):
        assert report["by_source"][name]["mae"] == pytest.approx(OFFSET, abs=1e-4)
    out = capsys.readouterr().out
    assert "  x/labels.csv: 2 clips" in out and "  y/labels.csv: 4 clips" in out


def test_a_clip_that_fails_to_decode_is_left_out_and_named_not_fatal(labelled, tmp_path, capsys):
    """A labelled WAV whose samples are zeroed and a FLAC corrupted mid-stream: their headers read, so only
    decoding finds them.  evaluate leaves each out, names it, and judges the rest against the median of the
    clips it evaluated (it used to stop with exit 2: 'silent audio', 'cannot decode audio')."""
    from drumtimbre.cli import main
    from encoder.audio import AudioError
    from encoder.dataset import load_audio
    from tests.signals import write_undecodable

    csv_path, model = labelled
    rows = list(csv.reader(open(csv_path, newline="")))
    silent, corrupt = write_undecodable(tmp_path / "broken")
    more = tmp_path / "more.csv"
    with open(more, "w", newline="") as f:
        csv.writer(f).writerows(rows[:3] + [[str(silent), *rows[3][1:]]] + rows[3:] + [[str(corrupt), *rows[4][1:]]])
    assert main(["evaluate", "--model", str(model), "--data", str(more), "--out", str(tmp_path / "e"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "drumtimbre evaluate: warning: 2 file(s) left out, unreadable:" in err
    assert f"\n  {silent}: silent" in err and f"\n  {corrupt}: cannot decode audio" in err
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    good = read_label_csv(csv_path)
    assert report["clips"] == 6 and report["mae"] == pytest.approx(OFFSET, abs=1e-4)
    assert len(report["left_out"]) == 2 and any(str(silent) in r for r in report["left_out"])  # also in the report
    np.testing.assert_allclose(report["median_baseline"]["median_points"], np.median(good.labels(), axis=0))
    # the same through the audio cache: what failed is left out again, and named again
    from encoder.dataset import load_usable_audio

    m = read_label_csv(more)
    for _ in range(2):
        kept, x = load_usable_audio(m, "train", cache_dir=tmp_path / "cache", progress=False)
        assert kept.paths() == good.paths() and x.shape == (6, 16000)
        assert kept.excluded["unreadable audio"] == 2 and len(kept.left_out) == 2
        np.testing.assert_array_equal(x, load_audio(good, progress=False))
        assert f"\n  {corrupt}: cannot decode audio" in capsys.readouterr().err
    assert len(list((tmp_path / "cache").glob("audio-*.npy"))) == 1
    assert len(list((tmp_path / "cache").glob("audio-*.left_out.json"))) == 1
    with pytest.raises(AudioError, match=f"{silent}: silent.*and 1 more"):  # load_audio takes every clip or none
        load_audio(m, progress=False)
