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


def test_ungrouped_variants_follow_the_clip_they_were_made_from():
    """Ungrouped (the default), each augmented variant lands in its original's split, so no repitched or EQ'd copy
    of a test clip is trained on (they used to be split by their own paths: 183 of 185 Debian test files had a
    variant in train); the clips that are no variant keep the split they had without variants, and each
    source still gives 64/16/20 %."""
    from pathlib import Path

    from encoder.recipe import augmented_path

    kits = [Path(f"/kits/kit{i:02d}") for i in range(40)]
    orig = [Record(str(k / f"hit{j}.wav"), (0.0,) * 7, str(k), "x/debian.csv") for k in kits for j in range(5)]
    derived = [Record(str(augmented_path(Path("data"), Path(r.path), v)), (0.0,) * 7, r.group, "x/debian_aug.csv")
               for r in orig for v in range(4)]  # data/audio/augmented/kit00-<hash>/hit0_v0.flac, ...
    m = Manifest(derived + orig)
    a = splits.assign_by_source(m, seed=2)
    split_of = dict(zip(m.paths(), a))
    for k, r in enumerate(orig):
        assert {split_of[d.path] for d in derived[4 * k:4 * k + 4]} == {split_of[r.path]}, r.path
    assert [split_of[r.path] for r in orig] == splits.assign_by_source(Manifest(orig), seed=2)  # unchanged
    assert [split_of[r.path] for r in orig] == splits.assign(Manifest(orig), seed=2)
    aug = a[:len(derived)]
    assert (aug.count("train"), aug.count("validation"), aug.count("test")) == (512, 128, 160)
    assert splits.assign_by_source(Manifest(list(reversed(m.records))), seed=2) == list(reversed(a))
    assert splits.assign_by_source(m, seed=2) == a
    # variants without their originals: those of one clip together, 64/16/20 % of the originals
    alone = splits.assign_by_source(Manifest(derived), seed=2)
    assert all(len(set(alone[4 * k:4 * k + 4])) == 1 for k in range(len(orig)))
    assert (alone.count("train"), alone.count("validation"), alone.count("test")) == (512, 128, 160)
    # a file merely named like a variant, outside an augmented folder, is a clip of its own
    assert splits.variant_of(Record("kit/snare_v2.wav", (0.0,) * 7, "kit", "t")) is None


def test_a_variant_follows_its_own_kit_among_kits_of_one_name_and_group():
    """Two kits named Kit in two folders, in one group (a CSV's group column), each with a kick.wav: a variant
    follows the kick of the kit it was made from (its folder's hash), wherever the other kick lands."""
    from pathlib import Path

    from encoder.recipe import augmented_path

    filler = [Record(f"/other/hit{i}.wav", (0.0,) * 7, "g", "c.csv") for i in range(20)]
    kicks = [Record(f"{root}/Kit/kick.wav", (0.0,) * 7, "shared", "c.csv") for root in ("/a", "/b")]
    variant = Record(str(augmented_path(Path("/data"), Path("/b/Kit/kick.wav"), 0)), (0.0,) * 7, "shared", "c_aug.csv")
    m = Manifest(filler + kicks + [variant])
    for seed in range(50):
        a = splits.assign_by_source(m, seed=seed)
        assert a[-1] == a[-2]
        if a[-3] != a[-2]:
            break
    else:
        pytest.fail("no seed splits the two kicks apart")
