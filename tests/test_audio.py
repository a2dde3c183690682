import numpy as np
import pytest
import soundfile as sf

from encoder import audio
from encoder.descriptors import PEAK
from tests.signals import kick, snare


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("AIFF", "aiff")])
def test_any_format_rate_and_channels(tmp_path, fmt, ext):
    x = kick(44100, 1.5)
    stereo = np.stack([x, 0.5 * x], axis=1)
    path = tmp_path / f"k.{ext}"
    sf.write(path, stereo, 44100, format=fmt)
    clip = audio.load(path)
    assert clip.samples.dtype == np.float32
    assert len(clip.samples) == 16000  # 1.5 s cut to 1 s at 16 kHz
    assert np.max(np.abs(clip.samples)) == pytest.approx(PEAK, rel=1e-5)
    assert clip.source_rate == 44100


def test_resampling_keeps_frequency():
    rate = 48000
    t = np.arange(rate // 2) / rate
    tone = np.sin(2 * np.pi * 1000 * t)
    clip = audio.prepare(tone, rate).samples
    assert len(clip) == 8000
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    assert np.argmax(spectrum) * 16000 / len(clip) == pytest.approx(1000, abs=4)


def test_mono_is_the_channel_mean():
    x = snare(16000, 0.2)
    both = audio.prepare(np.stack([x, -x], axis=1) + np.stack([x, x], axis=1), 16000).samples
    assert np.allclose(both, audio.prepare(x, 16000).samples, atol=1e-6)


def test_pad_to_model_input():
    clip = audio.prepare(kick(16000, 0.3), 16000).samples
    padded = audio.pad(clip)
    assert padded.shape == (16000,) and np.all(padded[len(clip):] == 0)
    assert np.array_equal(padded[: len(clip)], clip)


def test_bad_audio_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(audio.AudioError, match="empty.wav.*cannot decode"):
        audio.load(empty)
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    with pytest.raises(audio.AudioError, match="corrupt.flac"):
        audio.load(corrupt)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(4000), 16000)
    with pytest.raises(audio.AudioError, match="silent.wav: silent"):
        audio.load(silent)
    # 16-bit "silence" as a DAW exports it: dither of +-2 steps (-84 dBFS), alone or on an offset
    rng = np.random.default_rng(0)
    dither = (rng.integers(-1, 2, 44100) + rng.integers(-1, 2, 44100)).astype(np.int16)
    for name, x in (("dither.wav", dither), ("offset_dither.wav", dither + np.int16(9830))):
        sf.write(tmp_path / name, x, 44100, subtype="PCM_16")
        with pytest.raises(audio.AudioError, match=f"{name}: (silent|no sound)"):
            audio.load(tmp_path / name)
    zero_frames = tmp_path / "zero.wav"
    sf.write(zero_frames, np.zeros(0), 16000)
    with pytest.raises(audio.AudioError, match="zero.wav: empty"):
        audio.load(zero_frames)
    with pytest.raises(audio.AudioError, match="<live>: audio contains NaN"):
        audio.prepare(np.array([0.1, np.nan, 0.2]), 16000, source="<live>")


def test_find_audio_walks_folders(tmp_path):
    (tmp_path / "kit" / "sub").mkdir(parents=True)
    for name in ("kit/a.wav", "kit/sub/b.flac", "kit/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = audio.find_audio([tmp_path / "kit"])
    assert [p.name for p in found] == ["a.wav", "b.flac"]
    with pytest.raises(FileNotFoundError, match="nope"):
        audio.find_audio([tmp_path / "nope"])


def test_find_audio_follows_linked_folders_once_and_never_loops(tmp_path):
    """A kit linked into a library folder is found like a copied one (it used to be silently skipped); a link
    back up the tree and a second link to a folder already walked add nothing, so the walk ends."""
    hit = 0.5 * np.sin(2 * np.pi * 200 * np.arange(1600) / 16000) * np.exp(-np.arange(1600) / 400)
    (tmp_path / "elsewhere" / "kit808").mkdir(parents=True)
    (tmp_path / "library" / "own").mkdir(parents=True)
    sf.write(tmp_path / "elsewhere/kit808/kick.wav", hit, 16000)
    sf.write(tmp_path / "library/own/snare.flac", hit, 16000)
    (tmp_path / "library/kit808").symlink_to(tmp_path / "elsewhere/kit808", target_is_directory=True)
    (tmp_path / "library/again").symlink_to(tmp_path / "elsewhere/kit808", target_is_directory=True)
    (tmp_path / "library/own/up").symlink_to(tmp_path / "library", target_is_directory=True)  # a cycle
    found = audio.find_audio([tmp_path / "library"])
    rel = [p.relative_to(tmp_path / "library").as_posix() for p in found]
    assert rel == ["again/kick.wav", "own/snare.flac"]  # one real folder walked once, by its first name
    assert audio.load(found[0]).samples.size == 1600
    assert [p.name for p in audio.find_audio([tmp_path / "library/kit808"])] == ["kick.wav"]
