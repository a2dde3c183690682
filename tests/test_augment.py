"""Label-true augmentation: the transforms do what they say, variants follow their kit's split."""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from encoder import augment
from encoder.splits import assign_by_source
from encoder.descriptors import PEAK, SAMPLE_RATE
from encoder.manifest import Manifest, Record, read_label_csv
from encoder.recipe import attach_groups, augment_kits
from tests import signals


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_repitch_up_an_octave_halves_length_and_doubles_pitch():
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 300 * t).astype(np.float32)
    up = augment.repitch(tone, 12.0)
    assert abs(len(up) - len(tone) / 2) <= 2
    f = np.fft.rfftfreq(len(up), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(up)))]
    assert abs(f - 600) < 5


def test_shelves_tilt_the_spectrum_by_about_their_gain():
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)
    bright = augment.eq(noise, low_db=0.0, high_db=9.0)
    dark = augment.eq(noise, low_db=9.0, high_db=-9.0)
    gain_hi = 10 * np.log10(band_energy(bright, 6000, 8000) / band_energy(noise, 6000, 8000))
    assert 7.0 < gain_hi < 10.0
    assert abs(10 * np.log10(band_energy(bright, 20, 100) / band_energy(noise, 20, 100))) < 0.5
    assert 10 * np.log10(band_energy(dark, 20, 100) / band_energy(noise, 20, 100)) > 7.0
    assert 10 * np.log10(band_energy(dark, 6000, 8000) / band_energy(noise, 6000, 8000)) < -7.0


def test_choke_cuts_the_tail_but_keeps_the_attack():
    x = signals.snare(rate=SAMPLE_RATE)
    y = augment.choke(x, hold_s=0.02, tau_s=0.02)
    head = int(0.02 * SAMPLE_RATE)
    np.testing.assert_array_equal(y[:head], x[:head])
    assert np.sum(y[int(0.2 * SAMPLE_RATE):] ** 2) < 1e-3 * np.sum(x[int(0.2 * SAMPLE_RATE):] ** 2)


def test_layer_adds_the_partner_with_offset_and_gain():
    k, h = signals.kick(rate=SAMPLE_RATE), signals.hat(rate=SAMPLE_RATE)
    y = augment.layer(k, h, gain_db=-6.0, offset_s=0.005)
    off = int(0.005 * SAMPLE_RATE)
    np.testing.assert_allclose(y[off:off + len(h)] - k[off:off + len(h)], h * 10 ** (-6 / 20), atol=1e-6)


def test_variants_are_seeded_bounded_and_peak_normalised():
    x = signals.snare(rate=SAMPLE_RATE)
    partners = [signals.kick(rate=SAMPLE_RATE), signals.hat(rate=SAMPLE_RATE)]
    recipes = set()
    for k in range(12):
        a = augment.make_variant(x, np.random.default_rng(augment.seed_of("kit/snare.wav", k)), partners)
        b = augment.make_variant(x, np.random.default_rng(augment.seed_of("kit/snare.wav", k)), partners)
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.recipe == b.recipe and len(a.samples) <= SAMPLE_RATE
        assert abs(np.max(np.abs(a.samples)) - PEAK) < 1e-6 and np.all(np.isfinite(a.samples))
        recipes.add(a.recipe)
    assert len(recipes) == 12


def test_derived_groups_follow_their_originals_into_one_split():
    kits = [f"/kits/kit{i:02d}" for i in range(30)]
    orig = [Record(f"{k}/hit{j}.wav", (0.0,) * 7, k, "data/labels/debian.csv") for k in kits for j in range(4)]
    derived = [Record(f"aug/{k[-5:]}/hit{j}_v0.flac", (0.0,) * 7, k, "data/labels/debian_aug.csv")
               for k in kits for j in range(8)]
    m = Manifest(derived + orig)  # order must not matter
    a = assign_by_source(m, seed=0, grouped=True)
    split_of: dict[str, set] = {}
    for r, s in zip(m.records, a):
        split_of.setdefault(r.group, set()).add(s)
    assert all(len(s) == 1 for s in split_of.values())
    alone = assign_by_source(Manifest(orig), seed=0, grouped=True)
    assert a[len(derived):] == alone  # the originals' split is unchanged by adding variants
    assert {"train", "validation", "test"} <= {s for v in split_of.values() for s in v}


def test_augment_kits_writes_variants_with_their_kit_as_group(tmp_path):
    kit = tmp_path / "kits" / "synthkit"
    kit.mkdir(parents=True)
    files = []
    for name, x in (("kick", signals.kick()), ("hat", signals.hat()), ("snare", signals.snare())):
        files.append(kit / f"{name}.wav")
        sf.write(files[-1], x, 44100)
    (kit / "broken.wav").write_bytes(b"RIFF\x00\x00not audio")
    files.append(kit / "broken.wav")
    groups = augment_kits(tmp_path / "data", files, variants=2, progress=False)
    assert len(groups) == 6 and set(groups.values()) == {str(kit)}
    for p in groups:
        x, rate = sf.read(p)
        assert rate == SAMPLE_RATE and 0 < len(x) <= SAMPLE_RATE
    again = augment_kits(tmp_path / "data", files, variants=2, progress=False)
    assert again == groups

    csv_path = tmp_path / "data" / "labels" / "aug.csv"
    csv_path.parent.mkdir(parents=True)
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "hardness", "depth", "brightness", "roughness", "warmth", "sharpness", "boominess",
                    "error"])
        for p in groups:
            w.writerow([str(p)] + ["50"] * 7 + [""])
    attach_groups(csv_path, {str(p): g for p, g in groups.items()})
    m = read_label_csv(csv_path)
    assert len(m) == 6 and set(m.groups()) == {str(kit)}


def test_variant_of_silence_is_refused():
    with pytest.raises(ValueError, match="silent"):
        augment.make_variant(np.zeros(1000, np.float32), np.random.default_rng(0), [])


def _fake_labels(monkeypatch):
    """label_one without the slow labeller: labels derived from the file's bytes."""
    import hashlib

    from encoder import label_run

    def fake(path):
        h = hashlib.sha256(open(path, "rb").read()).digest()
        return path, tuple(float(b) for b in h[:7]), ""

    monkeypatch.setattr(label_run, "label_one", fake)


def test_a_rebuild_keeps_groups_writes_the_same_variants_however_out_is_spelled_and_drops_rows_without_audio(
        tmp_path, monkeypatch):
    """build-data's kit labelling (recipe._label_kits), a review's finds: a rebuild with fewer variants dropped the
    `group` of the rows it kept (label_to_csv keeps label columns only), so variants of test kits fell into train;
    variants of kits under the data folder were named and seeded by the folder as spelled (--out data, ./data and
    an absolute path wrote different audio, relabelled); and rows whose audio a smaller build did not write stayed,
    so train refused the CSV."""
    from encoder.recipe import _label_kits, augmented_path

    _fake_labels(monkeypatch)
    monkeypatch.chdir(tmp_path)
    kit = tmp_path / "data" / "audio" / "soundfonts" / "Font" / "Kit"
    kit.mkdir(parents=True)
    files = []
    for name, x in (("kick", signals.kick()), ("hat", signals.hat()), ("snare", signals.snare())):
        files.append(kit / f"{name}.wav")
        sf.write(files[-1], x, 44100)
    groups = {f: "soundfont/Font/Kit" for f in files}
    csv_path = tmp_path / "data" / "labels" / "extra.csv"
    rel = [f.relative_to(tmp_path) for f in files]
    _label_kits(tmp_path / "data", csv_path, files, 2, 1, False, groups=groups)
    aug = csv_path.with_name("extra_aug.csv")
    first = {r["path"]: r for r in csv.DictReader(open(aug))}
    assert len(first) == 6 and {r["group"] for r in first.values()} == {"soundfont/Font/Kit"}
    # the same build, the data folder spelled relatively: the same variants, byte for byte, and the same rows
    audio = {p: open(csv_path.parent / p, "rb").read() for p in first}
    assert augmented_path(tmp_path / "data", files[0], 0) == augmented_path(Path("data"), rel[0], 0).absolute()
    for p in first:
        (csv_path.parent / p).unlink()
    _label_kits(Path("data"), Path("data/labels/extra.csv"), rel, 2, 1, False,
                groups={f: "soundfont/Font/Kit" for f in rel})
    assert {p: open(csv_path.parent / p, "rb").read() for p in first} == audio
    assert {r["path"]: r for r in csv.DictReader(open(aug))} == first
    # fewer variants: the rows of those still on disk keep their group
    _label_kits(tmp_path / "data", csv_path, files, 1, 1, False, groups=groups)
    rows = list(csv.DictReader(open(aug)))
    assert len(rows) == 6 and all(r["group"] == "soundfont/Font/Kit" for r in rows)
    # ... and the rows whose audio is gone (a smaller build on a fresh checkout) are dropped, with their hashes
    for p in [p for p in first if "_v1." in p]:
        (csv_path.parent / p).unlink()
    _label_kits(tmp_path / "data", csv_path, files, 1, 1, False, groups=groups)
    rows = list(csv.DictReader(open(aug)))
    assert len(rows) == 3 and all("_v0." in r["path"] and r["group"] for r in rows)
    assert len(open(str(aug) + ".sha256").read().splitlines()) == 3
