"""The procedural drum synthesiser: determinism, families' spectra and decays, recipe layout."""
from __future__ import annotations

import numpy as np
import pytest

from encoder import synth
from encoder.descriptors import PEAK, SAMPLE_RATE


def centroid(x: np.ndarray) -> float:
    """Power-weighted spectral centroid of a whole clip, Hz."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float((spec * freqs).sum() / spec.sum())


def decay_time(x: np.ndarray, db: float = 30.0) -> float:
    """Seconds from the peak until the 5 ms RMS envelope stays below peak - `db` dB."""
    hop = int(0.005 * SAMPLE_RATE)
    frames = len(x) // hop
    rms = np.sqrt(np.mean(x[:frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-20)
    level = 20 * np.log10(rms / rms.max())
    peak = int(np.argmax(level))
    above = np.nonzero(level[peak:] > -db)[0]
    return float((above[-1] + 1) * hop / SAMPLE_RATE)


@pytest.mark.parametrize("family", synth.FAMILIES)
def test_clips_are_deterministic_prepared_and_vary_by_seed(family):
    a, b, c = synth.render(family, 7), synth.render(family, 7), synth.render(family, 8)
    assert a.dtype == np.float32 and a.ndim == 1
    assert 0.05 * SAMPLE_RATE <= len(a) <= SAMPLE_RATE
    assert np.max(np.abs(a)) == pytest.approx(PEAK, abs=1e-6)
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.allclose(a, c)


def test_kick_is_far_darker_than_hats_and_cymbals():
    kicks = [centroid(synth.render("kick", s)) for s in range(8)]
    hats = [centroid(synth.render("hat", s)) for s in range(8)]
    cymbals = [centroid(synth.render("cymbal", s)) for s in range(8)]
    assert max(kicks) < 800
    assert min(hats) > 4000
    assert min(cymbals) > 2500
    assert np.median(hats) > 10 * np.median(kicks)


def test_toms_sit_between_kicks_and_snares():
    kick = np.median([centroid(synth.render("kick", s)) for s in range(8)])
    tom = np.median([centroid(synth.render("tom", s)) for s in range(8)])
    snare = np.median([centroid(synth.render("snare", s)) for s in range(8)])
    assert kick < tom < snare


def test_decays_closed_hats_short_cymbals_long():
    hats = [decay_time(synth.render("hat", s)) for s in range(16)]
    cymbals = [decay_time(synth.render("cymbal", s)) for s in range(8)]
    shakers = [decay_time(synth.render("shaker", s)) for s in range(8)]
    assert min(hats) < 0.1  # closed hats exist
    assert min(cymbals) > 0.5  # every cymbal rings past half a second
    assert max(shakers) < 0.5
    assert np.median(cymbals) > 3 * np.median(hats)


def test_clap_has_several_bursts():
    x = synth.render("clap", 3)
    hop = int(0.001 * SAMPLE_RATE)
    env = np.sqrt(np.mean(x[:len(x) // hop * hop].reshape(-1, hop) ** 2, axis=1))[:80]
    peaks = [i for i in range(1, len(env) - 1) if env[i] > env[i - 1] and env[i] >= env[i + 1] and env[i] > 0.3 * env.max()]
    assert len(peaks) >= 3


def test_bad_family_and_seed_are_refused():
    with pytest.raises(ValueError, match="unknown drum family 'cowbel'"):
        synth.render("cowbel", 0)
    with pytest.raises(ValueError, match="seed"):
        synth.render("kick", -1)


def test_recipe_layout_groups_and_resume(tmp_path):
    import soundfile as sf

    from encoder.manifest import group_of
    from encoder.recipe import GROUP_SIZE, render_synth, synth_path

    paths = render_synth(tmp_path, 16, progress=False)
    assert len(paths) == 16 and all(p.exists() for p in paths)
    assert paths[0].relative_to(tmp_path).as_posix() == "audio/synth/kick/00/kick_00000.flac"
    assert paths[9].relative_to(tmp_path).as_posix() == "audio/synth/snare/00/snare_00001.flac"
    far = synth_path(tmp_path, len(synth.FAMILIES) * GROUP_SIZE + 2)
    assert group_of(str(far)).endswith("synth/tom/01")
    data, rate = sf.read(paths[3])
    assert rate == SAMPLE_RATE
    np.testing.assert_allclose(data, synth.render("hat", 0), atol=1 / 32768 + 1e-6)
    before = paths[3].stat().st_mtime_ns
    render_synth(tmp_path, 16, progress=False)
    assert paths[3].stat().st_mtime_ns == before  # existing clips are not rendered again
