import pytest

from encoder.manifest import Manifest, Record
from encoder import splits


def manifest(n: int, kits: int) -> Manifest:
    return Manifest([Record(f"kit{i % kits:02d}/hit{i:04d}.wav", (0.0,) * 7, f"kit{i % kits:02d}", "t") for i in range(n)])


def test_ungrouped_is_64_16_20_and_deterministic():
    m = manifest(1000, 10)
    a = splits.assign(m, seed=3)
    assert (a.count("train"), a.count("validation"), a.count("test")) == (640, 160, 200)
    assert splits.assign(m, seed=3) == a
    assert splits.assign(m, seed=4) != a
    shuffled = Manifest(list(reversed(m.records)))
    assert splits.assign(shuffled, seed=3) == list(reversed(a))  # order of records does not matter


def test_grouped_keeps_kits_whole():
    m = manifest(2000, 40)
    a = splits.assign(m, seed=1, grouped=True)
    by_kit: dict[str, set] = {}
    for r, s in zip(m.records, a):
        by_kit.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in by_kit.values())
    counts = {s: a.count(s) for s in splits.SPLITS}
    assert abs(counts["test"] - 400) <= 50 and abs(counts["validation"] - 320) <= 50


def test_saved_split_is_reused(tmp_path):
    m = manifest(50, 5)
    a = splits.assign(m, seed=0, grouped=True)
    splits.save(tmp_path / "split.csv", m, a)
    assert splits.apply(m, splits.load(tmp_path / "split.csv")) == a
    assert len(splits.subset(m, a, "test")) == a.count("test")
    with pytest.raises(KeyError):
        splits.apply(manifest(60, 5), splits.load(tmp_path / "split.csv"))


def test_a_saved_split_finds_its_clips_however_their_paths_are_written(tmp_path, monkeypatch):
    """Trained with relative paths from one folder; evaluated with absolute paths, or from another folder
    (the run's folder of origin known from run.json's `cwd`): the same clips, none silently left out."""
    monkeypatch.chdir(tmp_path)
    m = manifest(50, 5)
    a = splits.assign(m, seed=0)
    splits.save(tmp_path / "split.csv", m, a)
    saved = splits.load(tmp_path / "split.csv")
    absolute = Manifest([Record(str(tmp_path / r.path), r.labels, r.group, r.source) for r in m.records])
    assert splits.split_of(absolute, saved) == a
    assert len(splits.in_split(absolute, saved, "test")) == a.count("test")
    dotted = Manifest([Record(f"./{r.group}/../{r.path}", r.labels, r.group, r.source) for r in m.records])
    assert splits.split_of(dotted, saved) == a
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert splits.split_of(absolute, saved) == [None] * 50  # relative to the wrong folder: none, and said so
    (tmp_path / "run.json").write_text(f'{{"cwd": "{tmp_path}"}}')
    base = splits.run_base(tmp_path)
    assert base == str(tmp_path) and splits.split_of(absolute, saved, base) == a
    assert splits.run_base(elsewhere) is None
    # with the run's folder known, a relative path spelled like a saved one but meaning another file (here,
    # under `elsewhere`) is in no split
    assert splits.split_of(m, saved, base) == [None] * 50
    assert splits.split_of(m, saved) == a  # (without it, as written: runs older than run.json's cwd)
