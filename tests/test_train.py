"""Training: run folder contents, seeded reproducibility, grouped splits, window truncation."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("tensorflow")

from encoder import dataset, splits, synth  # noqa: E402
from encoder.descriptors import DESCRIPTORS, SAMPLE_RATE, WINDOW_SAMPLES, denormalise  # noqa: E402
from encoder.manifest import read_label_csv  # noqa: E402

FAMILIES = ("kick", "snare", "hat")


def write_tiny_dataset(root: Path, per_family: int = 8) -> Path:
    """Synth clips in kit folders (kit_<family>_<a|b>) and a label CSV whose labels follow the spectrum:
    normalised targets = (spectral centroid / 8 kHz, 1 - that, duration, ...)."""
    rows = []
    for family in FAMILIES:
        for seed in range(per_family):
            x = synth.render(family, seed)
            path = root / f"kit_{family}_{'ab'[seed % 2]}" / f"{family}_{seed}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
            spec = np.abs(np.fft.rfft(x)) ** 2
            c = float((spec * np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)).sum() / spec.sum()) / 8000
            d = len(x) / WINDOW_SAMPLES
            norm = np.array([c, 1 - c, d, 0.5 * c + 0.2, 1 - d, c * d, 0.3])
            rows.append([str(path.relative_to(root)), *denormalise(norm), ""])
    out = root / "labels.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", *DESCRIPTORS, "error"])
        w.writerows(rows)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def run_pair(tiny, tmp_path_factory):
    from encoder.train import TrainConfig, train

    base = tmp_path_factory.mktemp("runs")
    infos = []
    for name in ("a", "b"):
        cfg = TrainConfig(data=[str(tiny)], arch="pooled", out=base / name, epochs=2, seed=3, batch_size=8,
                          progress=False)
        infos.append(train(cfg))
    return base / "a", base / "b", infos


def test_run_folder_has_everything(run_pair):
    run, _, (info, _) = run_pair
    for name in ("model.keras", "split.csv", "normalisation.json", "run.json", "history.csv", "loss.png"):
        assert (run / name).stat().st_size > 0, name
    saved = json.loads((run / "run.json").read_text())
    for key in ("architecture", "training_data", "seed", "epochs_run", "grouped", "best_val_mae"):
        assert key in saved
    assert saved["architecture"] == "pooled" and saved["seed"] == 3 and saved["epochs_run"] == 2
    assert "labels.csv 24 clips" in saved["training_data"]
    norm = json.loads((run / "normalisation.json").read_text())
    assert norm["names"] == list(DESCRIPTORS) and len(norm["mins"]) == len(norm["maxs"]) == 7
    split = splits.load(run / "split.csv")
    assert len(split) == 24 and set(split.values()) == {"train", "validation", "test"}
    with open(run / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_model(run_pair):
    import keras

    a, b, (ia, ib) = run_pair
    assert ia["best_val_mae"] == ib["best_val_mae"]
    assert (a / "split.csv").read_text() == (b / "split.csv").read_text()
    wa = keras.saving.load_model(a / "model.keras").get_weights()
    wb = keras.saving.load_model(b / "model.keras").get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_grouped_split_keeps_kits_whole(tiny):
    m = read_label_csv(tiny)
    assignment = splits.assign_by_source(m, seed=0, grouped=True)
    by_group: dict[str, set] = {}
    for r, s in zip(m.records, assignment):
        by_group.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    assert len(by_group) == 6


def test_the_training_data_summary_tells_two_sources_of_one_name_apart():
    from encoder.manifest import Manifest, Record
    from encoder.train import summarise_sources

    recs = [Record(f"{d}/k/{i}.wav", [50.0] * 7, "k", f"{d}/labels.csv") for d in ("x", "y") for i in range(2)]
    text = summarise_sources(Manifest(recs), ["train", "test", "train", "validation"])
    assert text == "x/labels.csv 2 clips (1/0/1 train/val/test); y/labels.csv 2 clips (1/1/0 train/val/test)", text


def test_training_batches_truncate_some_windows_and_keep_labels():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, (64, WINDOW_SAMPLES)).astype(np.float32)  # never zero
    y = rng.uniform(0, 1, (64, 7)).astype(np.float32)
    xb, yb = next(iter(dataset.training_dataset(x, y, batch_size=64, seed=1, truncate_fraction=0.5)))
    xb, yb = xb.numpy()[..., 0], yb.numpy()
    lengths = (xb != 0).sum(axis=1)
    cut = lengths < WINDOW_SAMPLES
    assert 16 <= cut.sum() <= 48  # about half
    assert lengths.min() >= int(0.025 * SAMPLE_RATE) - 1
    for row, n in zip(xb, lengths):
        assert np.all(row[:n] != 0) and np.all(row[n:] == 0)  # a prefix is kept, the rest zeroed
    order = [int(np.argmin(np.abs(x[:, 0] - row[0]))) for row in xb]
    np.testing.assert_array_equal(yb, y[order])  # each window keeps its full clip's labels


def test_cli_refuses_unknown_arch_and_bad_settings(tiny, tmp_path, capsys):
    from drumtimbre.cli import main
    from encoder.train import TrainConfig, train

    assert main(["train", "--data", str(tiny), "--arch", "huge", "--out", str(tmp_path / "r")]) == 2
    assert "unknown architecture 'huge'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="epochs=0"):
        train(TrainConfig(data=[str(tiny)], arch="small", out=tmp_path / "r", epochs=0))


def test_all_data_refit_trains_on_every_clip_for_the_given_epochs(tiny, tmp_path, capsys):
    from drumtimbre.cli import main

    out = tmp_path / "refit"
    assert main(["train", "--data", str(tiny), "--arch", "pooled", "--epochs", "3", "--all-data",
                 "--batch-size", "8", "--no-progress", "--out", str(out)]) == 0
    assert "refit on all data" in capsys.readouterr().out
    info = json.loads((out / "run.json").read_text())
    assert info["all_data"] is True and info["epochs_run"] == 3 and info["best_val_mae"] is None
    assert info["counts"] == {"train": 24, "validation": 0, "test": 0}
    assert set(splits.load(out / "split.csv").values()) == {"train"}
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and rows[0].get("val_loss") in (None, "NA")  # no validation data
    # the same --out again: refused (a typo must not destroy a long run), unless --overwrite
    model_bytes = (out / "model.keras").read_bytes()
    again = ["train", "--data", str(tiny), "--arch", "pooled", "--epochs", "1", "--all-data", "--batch-size", "8",
             "--no-progress", "--out", str(out)]
    assert main(again) == 2
    assert f"{out} already holds a run (run.json, model.keras, split.csv)" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == model_bytes
    assert main(again + ["--overwrite"]) == 0
    assert json.loads((out / "run.json").read_text())["epochs_run"] == 1
    afile = tmp_path / "afile"  # --out naming a file: refused at once (a traceback after decoding every clip)
    afile.write_text("x")
    assert main(["train", "--data", str(tiny), "--out", str(afile)]) == 2
    err = capsys.readouterr().err
    assert f"{afile} is a file, not a folder" in err and "Traceback" not in err
    # a run refused before it wrote anything leaves no empty folder
    assert main(["train", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "never")]) == 2
    assert not (tmp_path / "never").exists()


def test_refit_replays_the_learning_rates_of_the_run_that_judged_it(tiny, tmp_path):
    from drumtimbre.cli import main

    judged = tmp_path / "judged"
    judged.mkdir()
    (judged / "history.csv").write_text("epoch,learning_rate,loss,val_loss\n0,0.002,0.1,0.1\n1,0.0005,0.1,0.1\n"
                                        "2,0.000125,0.1,0.1\n")
    out = tmp_path / "refit"
    assert main(["train", "--data", str(tiny), "--arch", "pooled", "--epochs", "4", "--all-data",
                 "--schedule-from", str(judged), "--batch-size", "8", "--no-progress", "--out", str(out)]) == 0
    with open(out / "history.csv") as f:
        rates = [float(r["learning_rate"]) for r in csv.DictReader(f)]
    assert rates == pytest.approx([0.002, 0.0005, 0.000125, 0.000125])  # the last rate holds after its end
    assert json.loads((out / "run.json").read_text())["schedule_from"] == str(judged)
    # without a history to replay: a clear error naming the file, exit status 2
    assert main(["train", "--data", str(tiny), "--arch", "pooled", "--epochs", "1", "--all-data",
                 "--schedule-from", str(tmp_path), "--no-progress", "--out", str(tmp_path / "x")]) == 2


def test_ema_saves_the_averaged_weights(tiny, tmp_path):
    """With --ema the saved model holds the moving average: after a dozen steps at momentum 0.99 it sits
    much nearer the seeded initial weights than the plainly trained model of the same seed and steps does;
    a grouped run (validation and early stopping on the averaged weights) ends on it too, and run.json
    records the momentum."""
    import keras

    from encoder.models import build
    from encoder.train import TrainConfig, train

    keras.utils.set_random_seed(3)
    init = [w.numpy() for w in build("pooled").trainable_weights]

    def distance(run: Path) -> float:  # trainable weights only (BatchNorm statistics are no average)
        model = keras.saving.load_model(run / "model.keras", compile=False)
        return float(sum(np.abs(a.numpy() - b).sum() for a, b in zip(model.trainable_weights, init)))

    def fit(name: str, ema: float, all_data: bool = True) -> dict:
        return train(TrainConfig(data=[str(tiny)], arch="pooled", out=tmp_path / name, epochs=4, seed=3,
                                 batch_size=8, progress=False, ema=ema, all_data=all_data))

    assert fit("plain", 0.0)["ema"] == 0.0 and fit("ema", 0.99)["ema"] == 0.99
    plain, averaged = distance(tmp_path / "plain"), distance(tmp_path / "ema")
    assert 0 < averaged < 0.4 * plain, (averaged, plain)
    grouped = fit("grouped", 0.99, all_data=False)
    assert np.isfinite(grouped["best_val_mae"]) and distance(tmp_path / "grouped") < 0.4 * plain
    with pytest.raises(ValueError, match="ema=1.0"):
        train(TrainConfig(data=[str(tiny)], arch="pooled", out=tmp_path / "bad", epochs=1, ema=1.0))


def test_a_clip_that_fails_to_decode_is_left_out_of_the_run_not_fatal(tmp_path, capsys):
    """A labelled WAV whose samples are zeroed and a FLAC corrupted mid-stream (headers fine, so only decoding
    finds them) are left out, named on stderr and in run.json, and in no split; the run goes on with the rest (it
    used to stop with exit 2, leaving split.csv and normalisation.json behind).  A run refused once they are left
    out writes nothing."""
    from drumtimbre.cli import main
    from tests.signals import write_undecodable

    labels = write_tiny_dataset(tmp_path / "data", per_family=3)
    silent, corrupt = write_undecodable(tmp_path / "data" / "broken")
    rows = list(csv.reader(open(labels, newline="")))
    with open(labels, "a", newline="") as f:
        csv.writer(f).writerows([[str(silent), *rows[1][1:]], [str(corrupt), *rows[2][1:]]])
    run = tmp_path / "run"
    assert main(["train", "--data", str(labels), "--arch", "pooled", "--epochs", "1", "--batch-size", "8",
                 "--out", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "drumtimbre train: warning: 2 file(s) left out, unreadable:" in err
    assert f"\n  {silent}: silent" in err and f"\n  {corrupt}: cannot decode audio" in err
    info = json.loads((run / "run.json").read_text())
    assert [s.split(": ")[0] for s in info["left_out"]] == [str(silent), str(corrupt)]
    assert info["excluded"] == {"unreadable audio": 2} and sum(info["counts"].values()) == 9
    assert "labels.csv 9 clips" in info["training_data"]
    split = splits.load(run / "split.csv")
    assert len(split) == 9 and str(silent) not in split and str(corrupt) not in split
    few = tmp_path / "few.csv"  # 3 clips that decode and the 2 that do not: too few, refused before writing
    with open(few, "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *[[str(labels.parent / r[0]), *r[1:]] for r in rows[1:4]],
                                 [str(silent), *rows[1][1:]], [str(corrupt), *rows[2][1:]]])
    assert main(["train", "--data", str(few), "--arch", "pooled", "--epochs", "1", "--out", str(tmp_path / "r2"),
                 "--no-progress"]) == 2
    assert "need at least 5 labelled clips, got 3" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()
