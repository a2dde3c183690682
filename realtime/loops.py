"""Drum loops rendered from one-shots, with exact ground-truth onset times.

A hit's ground-truth time is where its one-shot's own attack starts: the first
sample whose magnitude reaches ATTACK_DB (-40 dB) relative to the one-shot's
peak, measured once per one-shot (not the file start, which often carries a few
ms of silence).  The one-shot is placed so that this sample lands exactly on
the hit's sample index, so the truth is exact to the sample.

Flams: the grace note and the main note (10-28 ms apart) are ONE onset in the
ground truth.  Ground-truth onsets closer than MERGE_S (30 ms, the usual
tolerance of onset evaluation) are merged into the first of them; the same
holds for a kick and a hat played "together" but humanised a few ms apart.
`Loop.hits` keeps every individual hit.

One-shots whose onset is ill-defined are not used: hi-hat pedal / foot
sounds and anything rising slower than MAX_RISE_S, claps (several bursts), and
one-shots holding a second attack (has_second_attack) - each would be several
audible attacks with one truth time.

One-shots come from the Debian kits (hydrogen-drumkits / hydrogen-data under
/usr/share/hydrogen/data/drumkits, lmms-common under /usr/share/lmms/samples/drums);
files that do not decode are skipped.  Without any installed kit, simple
one-shots synthesised here (kick, snare, hat, tom, cymbal) are used instead
(`kit="synth"` asks for them explicitly).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from encoder.audio import dc_offset, sf_name

HYDROGEN_KITS = Path("/usr/share/hydrogen/data/drumkits")
LMMS_DRUMS = Path("/usr/share/lmms/samples/drums")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
ATTACK_DB = -40.0
"""Attack start of a one-shot: first sample at or above this level re its peak, dB."""
MERGE_S = 0.030
"""Ground-truth onsets closer than this (s) count as one onset (flams, kick+hat)."""
MAX_RISE_S = 0.010
"""One-shots taking longer than this (s) from ATTACK_DB to -12 dB re peak are skipped:
their onset time is ill-defined (hi-hat pedal "chick" swells, reversed sounds)."""
SECOND_ATTACK_DB = 10.0
"""One-shots holding a second attack (the 20 ms RMS jumping this many dB over its minimum of the
previous 40 ms, later than 30 ms after the first attack, above -40 dB re peak) are skipped: they
are two hits with one truth time.  Claps (multi-burst) are excluded by name for the same reason."""
MAX_ONESHOT_S = 2.0
"""One-shots are cut to this length (s) with a short fade-out."""
STYLES = ("groove16", "dense_hats", "flams", "ghosts", "kick_hat", "mixed")
"""The styles of bench/onset_eval.py's loops."""
EXTRA_STYLES = ("ride",)
"""Styles render_loop also knows, kept out of STYLES so that onset_eval's figures stay comparable:
"ride" is a ride-cymbal groove (8ths on the ride over kick and snare), each hit on a cymbal still
ringing from the last (bench/onset_robustness.py, check 5)."""
LEAD_IN_S = 0.25
"""Silence before the first hit, s."""


@dataclass(frozen=True)
class Hit:
    """One rendered hit."""

    time: float
    """Attack start of the one-shot in the loop, s (exact: an integer sample / rate)."""
    file: str
    gain_db: float
    role: str


@dataclass
class Loop:
    """A rendered loop and its ground truth."""

    audio: np.ndarray
    """Mono float32, peak 0.9 (linear full scale)."""
    sample_rate: int
    onsets: np.ndarray
    """Ground-truth onset times, s, sorted, hits closer than MERGE_S merged."""
    hits: list[Hit] = field(default_factory=list)


@dataclass(frozen=True)
class OneShot:
    """One drum sample of a kit, ready to place in a loop."""

    samples: np.ndarray
    """Mono float32 at the loop rate, peak 1."""
    attack: int
    """Index of the attack start (first sample >= ATTACK_DB re peak)."""
    file: str
    role: str


def role_of(name: str) -> str | None:
    """Drum role guessed from a one-shot's file name, or None (cowbells, fx, loops...)."""
    n = name.lower()
    tokens = set(re.split(r"[^a-z]+", n))
    if any(w in n for w in ("cowbell", "bell", "conga", "bongo", "clave", "agogo", "shaker", "fx", "beats",
                            "swish", "choke", "click", "empty", "djembe", "nasty", "clav", "pedal", "foot", "clap")):
        return None
    if "hat" in n or "hh" in tokens or "chh" in tokens or "ohh" in tokens or "ho" in tokens or n.startswith("hh"):
        if "open" in n or "ho" in tokens or "ohh" in tokens or "op" in tokens:
            return "open_hat"
        return "hat"
    if "kick" in n or "bd" in tokens or "bassdrum" in n or n.startswith("bd") or re.search(r"bass[^a-z]*drum", n):
        return "kick"
    if "snare" in n or "sd" in tokens or "sn" in tokens:
        return "snare"
    if "tom" in n or "ft" in tokens:
        return "tom"
    if any(w in n for w in ("crash", "ride", "splash", "china", "cymbal")) or tokens & {"cc", "rc"}:
        return "cymbal"
    if "snr" in tokens:  # General MIDI's "Std_Snr_1"; after the others: "tom_snr10" may be a noise level
        return "snare"
    return None


def _attack_index(x: np.ndarray) -> int:
    peak = float(np.max(np.abs(x)))
    return int(np.argmax(np.abs(x) >= peak * 10 ** (ATTACK_DB / 20)))


def has_second_attack(x: np.ndarray, sample_rate: int, attack: int) -> bool:
    """True when the one-shot `x` (peak 1, at `sample_rate` Hz) attacks again after its first attack (sample index
    `attack`; see SECOND_ATTACK_DB)."""
    step = max(1, int(0.005 * sample_rate))
    y = np.asarray(x[attack:], dtype=np.float64)
    m = y.size // step
    if m < 8:
        return False
    width = 4 * step  # 20 ms: a full period of a 50 Hz kick
    c = np.concatenate([[0.0], np.cumsum(y * y)])
    ends = np.arange(1, m + 1) * step
    env = 10 * np.log10((c[ends] - c[np.maximum(ends - width, 0)]) / width + 1e-12)
    env -= env.max()
    for k in range(6, m):  # >= 30 ms after the attack
        if env[k] > ATTACK_DB and env[k] - env[max(4, k - 8):k].min() > SECOND_ATTACK_DB:
            return True
    return False


def _prepare(x: np.ndarray, rate: int, sample_rate: int) -> np.ndarray | None:
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    if x.size < 64 or np.max(np.abs(x)) < 1e-4:
        return None
    x = x - dc_offset(x)
    if rate != sample_rate:
        x = soxr.resample(x, rate, sample_rate, quality="HQ")
    n = min(x.size, int(MAX_ONESHOT_S * sample_rate))
    x = x[:n].copy()
    fade = min(n // 4, int(0.02 * sample_rate))
    if fade > 1:
        x[n - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.max(np.abs(x)))
    return (x / peak).astype(np.float32) if peak > 0 else None


def kit_files(kit: str | Path) -> list[Path]:
    """Audio files of a kit: a hydrogen kit name, 'lmms', or a folder."""
    if str(kit) == "lmms":
        folder = LMMS_DRUMS
    elif Path(kit).is_dir():
        folder = Path(kit)
    else:
        folder = HYDROGEN_KITS / str(kit)
    if not folder.is_dir():
        raise ValueError(f"drum kit {kit!s}: no folder {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)


def installed_kits() -> list[str]:
    """Names of the installed kits with at least a kick, a snare and a hat."""
    names = [p.name for p in sorted(HYDROGEN_KITS.iterdir())] if HYDROGEN_KITS.is_dir() else []
    if LMMS_DRUMS.is_dir():
        names.append("lmms")
    return [k for k in names if {"kick", "snare", "hat"} <= set(_load_kit(k, 48000))]


def available_kits() -> list[Path]:
    """Folders of the installed kits with at least a kick, a snare and a hat (hydrogen kits, then lmms)."""
    return [LMMS_DRUMS if k == "lmms" else HYDROGEN_KITS / k for k in installed_kits()]


@lru_cache(maxsize=32)
def _load_kit(kit: str, sample_rate: int) -> dict[str, tuple[OneShot, ...]]:
    if kit == "synth":
        return _synth_kit(sample_rate)
    out: dict[str, list[OneShot]] = {}
    for path in kit_files(kit):
        role = role_of(path.stem)
        if role is None:
            continue
        shot = load_oneshot(path, sample_rate, role)
        if shot is not None:
            out.setdefault(role, []).append(shot)
    return {k: tuple(v) for k, v in out.items()}


def load_oneshot(path: str | Path, sample_rate: int, role: str) -> OneShot | None:
    """One drum sample, mono at `sample_rate` (Hz), peak 1, ready for add_shot; None when the file does not decode
    (some Debian files do not, e.g. lmms kick04.ogg), is silent, rises slower than MAX_RISE_S or holds a second
    attack: a sound whose onset time is ill-defined."""
    try:
        data, rate = sf.read(sf_name(path), dtype="float64", always_2d=True)
    except Exception:
        return None
    x = _prepare(data, int(rate), sample_rate)
    if x is None:
        return None
    attack = _attack_index(x)
    if np.argmax(np.abs(x) >= 10 ** (-12 / 20)) - attack > MAX_RISE_S * sample_rate:
        return None
    if has_second_attack(x, sample_rate, attack):
        return None
    return OneShot(x, attack, str(path), role)


def _synth_kit(sr: int) -> dict[str, tuple[OneShot, ...]]:
    """Simple synthesised one-shots (fallback when no Debian kit is installed)."""
    rng = np.random.default_rng(1234)
    out: dict[str, tuple[OneShot, ...]] = {}

    def shot(x: np.ndarray, role: str, name: str) -> OneShot:
        x = np.concatenate([np.zeros(int(0.002 * sr)), x])  # a little leading silence, like real files
        # the same fade-out as _prepare gives real one-shots: cut dead at up to -15 dB re peak (the kicks at
        # 0.6 s), the end was an audible click in the loop - an attack that the ground truth did not hold
        fade = min(x.size // 4, int(0.02 * sr))
        x[x.size - fade:] *= np.linspace(1.0, 0.0, fade)
        x = (x / np.max(np.abs(x))).astype(np.float32)
        return OneShot(x, _attack_index(x), f"synth:{name}", role)

    def t(sec: float) -> np.ndarray:
        return np.arange(int(sec * sr)) / sr

    kicks, snares, hats, toms = [], [], [], []
    for i, (f0, f1, dec) in enumerate(((160, 50, 0.25), (120, 45, 0.35))):
        tt = t(0.6)
        phase = 2 * np.pi * (f1 * tt + (f0 - f1) * 0.03 * (1 - np.exp(-tt / 0.03)))
        kicks.append(shot(np.sin(phase) * np.exp(-tt / dec), "kick", f"kick{i}"))
    for i, tone in enumerate((180.0, 220.0)):
        tt = t(0.4)
        x = 0.6 * np.sin(2 * np.pi * tone * tt) * np.exp(-tt / 0.08) + rng.standard_normal(tt.size) * np.exp(-tt / 0.12)
        snares.append(shot(x, "snare", f"snare{i}"))
    for i, dec in enumerate((0.03, 0.05)):
        tt = t(0.2)
        hats.append(shot(np.diff(rng.standard_normal(tt.size + 1)) * np.exp(-tt / dec), "hat", f"hat{i}"))
    for i, f in enumerate((110.0, 160.0)):
        tt = t(0.6)
        toms.append(shot(np.sin(2 * np.pi * f * tt) * np.exp(-tt / 0.2), "tom", f"tom{i}"))
    tt = t(1.5)
    cym = shot(np.diff(rng.standard_normal(tt.size + 1)) * np.exp(-tt / 0.6), "cymbal", "cymbal")
    tt = t(0.5)
    ohat = shot(np.diff(rng.standard_normal(tt.size + 1)) * np.exp(-tt / 0.2), "open_hat", "open_hat")
    out.update(kick=tuple(kicks), snare=tuple(snares), hat=tuple(hats), tom=tuple(toms), cymbal=(cym,), open_hat=(ohat,))
    return out


def load_kit(kit: str | Path | None, sample_rate: int) -> dict[str, tuple[OneShot, ...]]:
    """role -> one-shots at `sample_rate` (Hz).  None: GMRockKit if installed, else the first installed kit
    with kick, snare and hat, else 'synth'."""
    if kit is None:
        kits = installed_kits()
        kit = "GMRockKit" if "GMRockKit" in kits else (kits[0] if kits else "synth")
    if Path(kit) == LMMS_DRUMS:
        kit = "lmms"
    elif Path(kit).parent == HYDROGEN_KITS:
        kit = Path(kit).name
    shots = _load_kit(str(kit), int(sample_rate))
    missing = {"kick", "snare", "hat"} - set(shots)
    if missing:
        raise ValueError(f"drum kit {kit!s}: no one-shots for {sorted(missing)}")
    return shots


def _pattern(style: str, rng: np.random.Generator, step_s: float, n_steps: int) -> list[tuple[float, str, float]]:
    """(grid time s, role, gain dB) for each hit; times are unhumanised grid positions."""
    hits: list[tuple[float, str, float]] = []

    def add(i: float, role: str, gain: float) -> None:
        hits.append((i * step_s, role, gain))

    if style == "mixed":
        bar = 16
        styles = ("groove16", "dense_hats", "flams", "ghosts", "kick_hat")
        for b in range(0, n_steps, bar):
            sub = _pattern(str(rng.choice(styles)), rng, step_s, min(bar, n_steps - b))
            hits.extend((t + b * step_s, r, g) for t, r, g in sub)
        return hits
    for i in range(n_steps):
        beat = i % 4 == 0
        if style == "groove16":
            if i % 8 == 0 or (i % 16 in (10, 14) and rng.random() < 0.5):
                add(i, "kick", rng.uniform(-4, 0))
            if i % 8 == 4:
                add(i, "snare", rng.uniform(-3, 0))
            if i % 2 == 0 or rng.random() < 0.5:
                add(i, "hat" if rng.random() > 0.1 else "open_hat", rng.uniform(-10, -2) if not beat else rng.uniform(-4, 0))
            if i % 16 == 15 and rng.random() < 0.5:
                add(i, "tom", rng.uniform(-6, 0))
        elif style == "dense_hats":  # 32nd-note hats with accents
            for half in (0.0, 0.5):
                add(i + half, "hat", rng.uniform(-4, 0) if half == 0 and beat else rng.uniform(-14, -4))
            if i % 8 == 0:
                add(i, "kick", rng.uniform(-4, 0))
            if i % 8 == 4:
                add(i, "snare", rng.uniform(-3, 0))
        elif style == "flams":
            if i % 8 == 0:
                add(i, "kick", rng.uniform(-4, 0))
            if i % 4 == 2 or rng.random() < 0.2:
                main = rng.uniform(-3, 0)
                role = "snare" if rng.random() < 0.7 else "tom"
                add(i - rng.uniform(0.010, 0.028) / step_s, role, main - rng.uniform(6, 15))  # grace note
                add(i, role, main)
            elif i % 2 == 0:
                add(i, "hat", rng.uniform(-10, -2))
        elif style == "ghosts":
            if i % 8 == 0:
                add(i, "kick", rng.uniform(-3, 0))
            if i % 8 == 4:
                add(i, "snare", rng.uniform(-2, 0))
            elif i % 2 == 1 and rng.random() < 0.6:
                add(i, "snare", rng.uniform(-30, -20))  # ghost note
            if i % 2 == 0 and i % 8 != 4:
                add(i, "hat", rng.uniform(-12, -4))
        elif style == "ride":  # ride 8ths, accented on the beat, a skip note before some beats
            if i % 2 == 0:
                add(i, "ride", rng.uniform(-4, 0) if beat else rng.uniform(-10, -3))
            elif i % 4 == 3 and rng.random() < 0.3:
                add(i, "ride", rng.uniform(-12, -6))
            if i % 8 == 0 or (i % 16 == 10 and rng.random() < 0.3):
                add(i, "kick", rng.uniform(-4, 0))
            if i % 8 == 4:
                add(i, "snare", rng.uniform(-3, 0))
        elif style == "kick_hat":  # kick and hat on the same 8th
            if i % 2 == 0:
                add(i, "hat", rng.uniform(-8, 0))
                if rng.random() < 0.6:
                    add(i, "kick", rng.uniform(-4, 0))
                elif rng.random() < 0.5:
                    add(i, "snare", rng.uniform(-4, 0))
        else:
            raise ValueError(f"loop style {style!r}: expected one of {', '.join(STYLES + EXTRA_STYLES)}")
    if style in ("groove16", "mixed") and rng.random() < 0.5:
        add(0, "cymbal", rng.uniform(-6, 0))
    return hits


def role_pool(shots: dict[str, tuple[OneShot, ...]], role: str) -> tuple[OneShot, ...]:
    """The one-shots a pattern role draws from; a role the kit lacks falls back to a near one."""
    if role == "ride":  # cymbals named ride, else any cymbal, else open hats, else hats
        rides = tuple(s for s in shots.get("cymbal", ()) if "ride" in Path(s.file).name.lower())
        return rides or shots.get("cymbal") or shots.get("open_hat") or shots["hat"]
    return shots.get(role) or shots["hat" if role == "open_hat" else "snare"]


def merge_close(times: np.ndarray, merge_s: float = MERGE_S) -> np.ndarray:
    """Sorted times (s) with every time closer than merge_s (s) to the last kept one dropped."""
    kept: list[float] = []
    for t in np.sort(np.asarray(times, dtype=np.float64)):
        if not kept or t - kept[-1] >= merge_s:
            kept.append(float(t))
    return np.asarray(kept)


def add_shot(audio: np.ndarray, shot: OneShot, at: int, gain_db: float) -> None:
    """Mix `shot` into `audio` (in place) so that its attack lands on sample `at`, `gain_db` re its peak;
    cut at the end of `audio`.  Needs at >= shot.attack."""
    start = at - shot.attack
    seg = shot.samples[: audio.size - start]
    audio[start: start + seg.size] += seg * 10 ** (gain_db / 20)


def render_loop(style: str, bpm: float, seconds: float, sample_rate: int = 48000, seed: int = 0,
                kit: str | Path | None = None) -> Loop:
    """Render `seconds` of a drum loop (16th grid at `bpm`, humanised +-6 ms) with exact onset truth."""
    if style not in STYLES + EXTRA_STYLES:
        raise ValueError(f"loop style {style!r}: expected one of {', '.join(STYLES + EXTRA_STYLES)}")
    if not 20 <= bpm <= 400:
        raise ValueError(f"bpm {bpm}: expected 20-400")
    if seconds <= LEAD_IN_S:
        raise ValueError(f"seconds {seconds}: need more than the {LEAD_IN_S} s lead-in")
    shots = load_kit(kit, sample_rate)
    rng = np.random.default_rng(seed)
    step_s = 60.0 / bpm / 4
    n_steps = int((seconds - LEAD_IN_S - 0.3) / step_s)
    total = int(round(seconds * sample_rate))
    audio = np.zeros(total, dtype=np.float64)
    hits: list[Hit] = []
    for grid_t, role, gain_db in _pattern(style, rng, step_s, max(n_steps, 1)):
        pool = role_pool(shots, role)
        shot = pool[int(rng.integers(len(pool)))]
        jitter = float(np.clip(rng.normal(0.0, 0.003), -0.006, 0.006))
        at = int(round((LEAD_IN_S + grid_t + jitter) * sample_rate))
        start = at - shot.attack
        if at >= total - int(0.05 * sample_rate) or start < 0:
            continue
        add_shot(audio, shot, at, gain_db)
        hits.append(Hit(at / sample_rate, shot.file, float(gain_db), role))
    hits.sort(key=lambda h: h.time)
    peak = float(np.max(np.abs(audio))) or 1.0
    audio = (audio * (0.9 / peak)).astype(np.float32)
    onsets = merge_close(np.array([h.time for h in hits]))
    return Loop(audio, int(sample_rate), onsets, hits)


def write_loop(loop: Loop, path: str | Path) -> tuple[Path, Path]:
    """Write the loop as 24-bit wav or flac at `path` (.wav added unless it ends in .wav/.flac) and
    its true onsets (s, one per line) beside it as .txt."""
    path = Path(path)
    wav = path if path.suffix.lower() in (".wav", ".flac") else path.with_suffix(".wav")
    txt = wav.with_suffix(".txt")
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(wav), loop.audio, loop.sample_rate, subtype="PCM_24")
    txt.write_text("".join(f"{t:.6f}\n" for t in loop.onsets))
    return wav, txt


def main(argv: list[str] | None = None) -> int:
    """`python -m realtime.loops OUT.flac`: render a drum loop with its true onsets (OUT.txt)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m realtime.loops", description=main.__doc__)
    p.add_argument("out", help="audio file to write (.wav or .flac); onsets go to the same name with .txt")
    p.add_argument("--style", choices=STYLES + EXTRA_STYLES, default="mixed")
    p.add_argument("--bpm", type=float, default=110.0)
    p.add_argument("--seconds", type=float, default=16.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kit", default=None,
                   help="hydrogen kit name, 'lmms', a folder, or 'synth' (default: GMRockKit if installed, "
                        "else the first installed kit, else the built-in synthesiser)")
    p.add_argument("--rate", type=int, default=48000, help="sample rate, Hz")
    args = p.parse_args(argv)
    try:
        loop = render_loop(args.style, args.bpm, args.seconds, args.rate, args.seed, args.kit)
    except ValueError as exc:
        p.error(str(exc))
    audio_path, txt = write_loop(loop, args.out)
    print(f"{audio_path}: {len(loop.onsets)} hits, {args.seconds:g} s; true onsets in {txt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
