"""The Freesound One-Shot loader on the dataset's real layout and its real bad records."""
import json
import logging
import shutil
from pathlib import Path

import pytest

from encoder.descriptors import DESCRIPTORS
from encoder.freesound import load_freesound, read_analysis
from encoder.manifest import load_manifests


@pytest.fixture()
def dataset(reference, tmp_path) -> Path:
    """A dataset root holding the real record 183 and the 8 real bad records."""
    root = tmp_path / "freesound"
    shutil.copytree(reference / "freesound_one_shot", root)
    for analysis in (reference / "freesound_one_shot_bad_records").glob("*/*_analysis.json"):
        dest = root / "analysis" / analysis.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(analysis, dest)
        # give bad records their audio too, so only the descriptors can exclude them
        wav_dir = root / "one_shot_percussive_sounds" / analysis.parent.name
        wav_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "one_shot_percussive_sounds/1/183.wav", wav_dir / analysis.name.replace("_analysis.json", ".wav"))
    return root


def test_bad_records_are_excluded_and_counted(dataset, reference, caplog):
    n_nan = n_missing = 0
    for analysis in (reference / "freesound_one_shot_bad_records").glob("*/*.json"):
        data = json.loads(analysis.read_text())
        if any(n not in data for n in DESCRIPTORS):
            n_missing += 1
        else:
            n_nan += 1
    assert n_nan + n_missing == 8
    with caplog.at_level(logging.WARNING):
        m = load_freesound(dataset)
    assert [Path(p).name for p in m.paths()] == ["183.wav"]
    assert sum(m.excluded.values()) == 8
    assert m.excluded.get("NaN descriptor", 0) == n_nan and m.excluded.get("missing descriptor", 0) == n_missing
    assert f"{n_nan} (NaN descriptor)" in caplog.text and f"{n_missing} (missing descriptor)" in caplog.text
    expected = json.loads((dataset / "analysis/1/183_analysis.json").read_text())
    assert m.records[0].labels == tuple(expected[n] for n in DESCRIPTORS)
    assert all(v != 0 for v in m.labels().ravel())  # nothing turned into 0


def test_nan_never_becomes_zero(tmp_path):
    p = tmp_path / "x_analysis.json"
    p.write_text('{"hardness": NaN, "depth": 1, "brightness": 1, "roughness": 0, "warmth": 1, "sharpness": 1, "boominess": 1}')
    assert read_analysis(p) == (None, "NaN descriptor")
    p.write_text('{"hardness": 1, "depth": 1}')
    assert read_analysis(p) == (None, "missing descriptor")
    p.write_text("{not json")
    assert read_analysis(p)[0] is None


def test_an_unreadable_analysis_is_named_and_the_dataset_s_own_bad_records_are_counted(dataset, tmp_path, capsys):
    """A broken analysis JSON (a bad download) is left out and named, in the manifest and on train/evaluate's
    stderr; the dataset's 8 NaN / missing-descriptor records are counted, not listed one by one."""
    from encoder.dataset import load_readable

    broken = dataset / "analysis/4/5004_analysis.json"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"hardness": 1, "depth"')
    wav = dataset / "one_shot_percussive_sounds/4/5004.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(dataset / "one_shot_percussive_sounds/1/183.wav", wav)
    m = load_freesound(dataset)
    assert m.left_out == [f"{broken}: unreadable analysis (JSONDecodeError)"]
    assert sum(m.excluded.values()) == 9
    load_readable([dataset], "train")
    err = capsys.readouterr().err
    assert "drumtimbre train: warning: 1 file(s) left out, unreadable:" in err and f"  {broken}: unreadable" in err



def test_an_analysis_that_is_json_but_not_an_object_is_left_out_and_named(dataset, capsys):
    """`null`, a list or a number is valid JSON but holds no descriptors: left out and named like a broken
    analysis (it used to stop the whole load with a TypeError)."""
    from encoder.dataset import load_readable

    wav = dataset / "one_shot_percussive_sounds/1/183.wav"
    bad = {}
    for sound_id, text in (("7", "null"), ("8", "[1, 2, 3]"), ("9", "42")):
        bad[sound_id] = dataset / f"analysis/1/{sound_id}_analysis.json"
        bad[sound_id].write_text(text)
        shutil.copy(wav, wav.with_name(f"{sound_id}.wav"))
    assert read_analysis(bad["7"]) == (None, "unreadable analysis (not a JSON object)")
    m = load_freesound(dataset)
    assert [Path(p).name for p in m.paths()] == ["183.wav"]
    assert m.excluded["unreadable analysis (not a JSON object)"] == 3
    assert m.left_out == [f"{bad[i]}: unreadable analysis (not a JSON object)" for i in ("7", "8", "9")]
    assert len(load_readable([dataset], "evaluate")) == 1
    err = capsys.readouterr().err
    assert "drumtimbre evaluate: warning: 3 file(s) left out, unreadable:" in err and f"  {bad['7']}: unreadable" in err

def test_missing_audio_is_excluded(dataset):
    (dataset / "one_shot_percussive_sounds/1/183.wav").unlink()
    m = load_freesound(dataset)
    assert len(m) == 0 and m.excluded["audio file missing"] == 1


def test_audio_without_an_analysis_is_counted(dataset):
    """A sound the dataset holds without its analysis JSON gives no record (no labels) but is counted, as the
    other exclusions are (it used to vanish from the log)."""
    assert "analysis file missing" not in load_freesound(dataset).excluded
    shutil.copy(dataset / "one_shot_percussive_sounds/1/183.wav", dataset / "one_shot_percussive_sounds/1/999999.wav")
    m = load_freesound(dataset)
    assert m.excluded["analysis file missing"] == 1 and [Path(p).name for p in m.paths()] == ["183.wav"]


def test_loader_and_label_csv_make_one_manifest(dataset, tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,hardness,depth,brightness,roughness,warmth,sharpness,boominess,error\n"
                        "kit/a.wav,1,2,3,4,5,6,7,\n"
                        "kit/b.wav,,,,,,,,kit/b.wav: silent audio\n")
    m = load_manifests([dataset, csv_path])
    assert len(m) == 2 and m.records[1].labels == (1, 2, 3, 4, 5, 6, 7)
    assert m.records[1].group == str(tmp_path / "kit")  # relative to the CSV folder
    assert m.excluded["labelling error"] == 1 and sum(m.excluded.values()) == 9
    with pytest.raises(FileNotFoundError, match="neither a label CSV"):
        load_manifests([tmp_path / "nothing"])


def test_a_grouped_split_of_the_dataset_keeps_its_shares(dataset):
    """The dataset's numbered folders are batches of 2,500 sounds, not kits: grouped by folder, a grouped split of
    the real layout (2500 x 4 + 254) came out 49/27/24 %.  Each sound is its own group, so it keeps 64/16/20."""
    from collections import Counter

    from encoder.splits import assign_keys

    analysis = dataset / "analysis/1/183_analysis.json"
    wav = dataset / "one_shot_percussive_sounds/1/183.wav"
    sound_id = 1000
    for folder, count in ((1, 250), (2, 250), (3, 250), (4, 250), (5, 25)):  # the real layout, scaled by 1/10
        for _ in range(count):
            for src, dest in ((analysis, dataset / f"analysis/{folder}/{sound_id}_analysis.json"),
                              (wav, dataset / f"one_shot_percussive_sounds/{folder}/{sound_id}.wav")):
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.symlink_to(src)
            sound_id += 1
    m = load_freesound(dataset)
    assert len(m) == 1026 and len(set(m.groups())) == 1026
    for seed in range(4):
        split = Counter(assign_keys(m.paths(), seed, grouped=True, groups=m.groups()))
        shares = [split[k] / len(m) for k in ("train", "validation", "test")]
        assert shares == pytest.approx([0.64, 0.16, 0.20], abs=0.01), (seed, shares)
