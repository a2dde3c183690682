"""Streaming onset detector made for drums.

Pipeline, all of it block-size independent (frames sit on absolute sample
positions, so any block partition gives the same frames, up to float64 rounding
in the one-pole filters, and the same onsets):

1. NaN/inf: a run of up to `HOLD_MAX_S` bridged by a straight line; a longer one -> 0 (frames touching it,
   and `ref_frames` after, hold no onset); then a one-pole DC blocker (`dc_cutoff_hz`): offsets never trigger.
2. Hann frames of `window_s` every `hop_s` of that signal high-passed once more
   (`low_cut_hz`, one pole; a DC offset fading out at a one-shot's end is a
   sub-bass swell, no hit); magnitudes averaged into `n_bands`
   log-spaced bands (`min_hz`..`max_hz`; a band of fewer than `min_bins` FFT
   bins merged upwards), scaled by a level control (a quiet input raised by up
   to `agc_max_gain_db`, so that its recent peak frame RMS reaches
   `agc_target_db`, and its quietest frames no higher than `agc_noise_db`; with
   `agc_cut_above_db` set, one louder than that over it lowered), each
   band centred above `ref_low_hz` lifted toward the recent peak of the loudest
   band below it (by at most `lift_max_db`, its recent floor to at most
   `lift_noise`: a soft hat under a loud kick or bass counts, steady hiss does
   not), log-compressed log(1 + gamma |X|).  The frame and its reference
   (below) get the same gains, so a change of gain is no rise.
3. Detection function: mean over bands of the rise over the band-wise maximum
   of the `ref_frames` previous frames (noisy decays rarely exceed it); bands
   below `ref_low_hz` use `ref_frames_low` frames, a kick's whole period, so a
   low tone's phase moving through the short frame is no rise.  Below a sample
   rate of 2 x `max_hz` the bands above the Nyquist frequency count as bands with
   no rise (the mean is over the full layout), so the thresholds mean the same
   at 16 kHz as at 48 kHz.
4. Peak picking: local maximum over `pre_frames` before / `post_frames` after,
   above `threshold_ratio` x moving median (`median_window_s`; frames before the stream count as
   0, so a hit starting it is not measured against itself) + `threshold_offset`,
   above a masking threshold (`masking_ratio` x the last peak, decaying with
   `masking_s`), frame level above `floor_dbfs` with its newer half not much
   quieter than its older (in full or in the treble), and not a truncation (the
   sound must not stop dead right after the frame: the hop after it must hold
   `energy_rise` x the energy of the hop before it, or `treble_rise` x that of
   its first difference; splatter of a cut is no hit).  With `trees` (the default), a peak that misses
   `threshold_offset` or the masking threshold but passes `candidate_offset` (and the median threshold and
   the cut-off check) is a candidate, and an onset when the shipped classifier (realtime.onset_trees:
   gradient-boosted trees over its features, fitted on rendered loops of 26 kits and the synthetic one) gives it a
   probability above `accept_prob` and it adds energy (the hop after its frame at least as strong as the
   hop before the frame, in full or in the treble); it rescues soft hits (off with `post_frames` 0).
5. Backtracking: in the DC-blocked samples before the peak frame's end (at
   most `max_latency_s` minus the confirmation delay), the attack is the point
   of biggest envelope rise (`envelope_s` resolution); the onset is where the
   level first climbs past `rise_fraction` of that rise (in dB) and to within
   `attack_db` of its top, to the sample.
6. Onsets closer than `min_interval_s` to the previous one are dropped (a flam
   is one hit, as in realtime.loops' ground truth): an attack backtracked to
   within that interval (a flam's main note, detected late) is searched again
   only after the interval, and kept only if the level rises `late_rise_db` there
   over its loudest point of the 2 ms before; within the interval after such a
   dropped attack, a peak needs that rise too (the main note's own later peaks
   are no new hit).

Defaults were tuned at 48 kHz on the tuning kits of bench/onset_eval.py (the
short hop, 1.33 ms, was chosen for its timing and confirmation delay on all its
sets; the level control and the 4-bin bands for quiet inputs and steady noise,
bench/onset_robustness.py; see BENCHMARKS.md); the same parameters (in seconds /
Hz) apply at any rate.  process() makes about 37 calls per block (numpy's and its
own, bench/detector_calls.py; 26 without the treble lift): one matrix product for
both one-pole filters; one FFT, band sum and log for all the block's frames; the
treble lift's followers for all of them at once; Python floats for the peak
picking.  At 48 kHz in 128-sample blocks (2 frames) that is about 1.6 % of a core
back to back and 4-5 % at real-time pace on the project's 2-core VM, where every
call costs more after each sleep of the worker (bench/engine_cpu.py).
The frame length is `window_s` rounded to the nearest length with no prime factor
above 5 (512 samples at 48 kHz, 480 at 44.1 kHz): a 514-point FFT cost four times
as much.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from encoder.trees import Forest
from realtime.onset_trees import ACCEPT_ALL, BACK_S, FEATURES, RANGES_HZ, load_forest, probability

_PAST_FRAMES = 40
"""The classifier's past_max looks back this many frames (53 ms at the default hop)."""
LATE_REF_S = 0.002
"""A late attack (one the minimum interval made the detector search for again) must rise `late_rise_db` over the
loudest point of the level envelope this long before it, s."""
MAIN_NOTE_RISE_DB = 2.0
"""An attack dropped for min_interval_s is taken for a flam's main note (whose own later peaks are then no new hit)
when it rises this much over the loudest point of the LATE_REF_S before it, dB; a swell or a retrigger inside
the last hit's body does not, and the hits after it keep the usual interval (a double stroke 35 ms apart)."""


@dataclass(frozen=True)
class OnsetParams:
    """Tunables of OnsetDetector; times in seconds, levels in dB."""

    window_s: float = 0.0107
    """FFT frame length, s (rounded to a fast FFT length: 512 samples at 48 kHz, 480 at 44.1 kHz)."""
    hop_s: float = 0.001333
    """Hop between frames, s (64 samples at 48 kHz: the peak is confirmed one short hop after it)."""
    min_hz: float = 40.0
    max_hz: float = 16000.0
    n_bands: int = 32
    """Log-spaced frequency bands between min_hz and max_hz (kick and hat weigh alike)."""
    min_bins: int = 4
    """A band of fewer FFT bins is merged with the bands above it (a one-bin band swings widely in noise)."""
    ref_frames: int = 10
    """Flux reference: the band-wise maximum of this many previous frames (noisy decays rarely exceed it)."""
    ref_frames_low: int = 20
    """... for the bands centred below `ref_low_hz`: at least a period of a kick's fundamental, so a
    low tone's waveform phase moving through the short frame (worse when clipped) is no rise."""
    ref_low_hz: float = 300.0
    """Bands centred below this (Hz) use `ref_frames_low` (kick, floor tom); 0: none."""
    top_bands: int = 0
    """Detection function = mean flux of the this many strongest bands (0: all bands)."""
    log_gamma: float = 500.0
    """Log compression log(1 + gamma * |X|), |X| in full-scale units."""
    agc_target_db: float = -17.0
    """Level control: a quiet input's frames are raised, before the log compression, so that the recent peak frame
    RMS (Hann-windowed, after `low_cut_hz`) reaches this level, dBFS (the loops of bench/onset_eval.py, peaking at
    0.9, sit there): the thresholds then mean the same for an input peaking at -30 dBFS as at 0 ..."""
    agc_release_s: float = 10.0
    """... the recent peak level follows a louder frame at once and decays with this time constant, s
    (0: no level control, gain 1) ..."""
    agc_max_gain_db: float = 30.0
    """... the gain is at most this (dB) ..."""
    agc_cut_above_db: float = 1000.0
    """... and a loud input's frames are lowered so that the recent peak frame RMS is at most this far above the
    target (dB; the default, 1000: never lowered).  6 hears a hot or limited input, or float samples far beyond
    full scale, as a loud one; but one frame far louder than the rest (a glitch, a loud accent) then dulls the
    detector until the level falls back (`agc_release_s`): seconds, or minutes after a glitch far beyond full
    scale (BENCHMARKS.md, "A level control that also lowers") ..."""
    agc_noise_db: float = -46.0
    """... and raises the recent floor (the quietest frames' RMS, dBFS) no higher than this: steady noise
    (hiss, a wash) at this level does not trigger ..."""
    agc_floor_rise_s: float = 2.0
    """... the floor follows a quieter frame at once and rises with this time constant, s."""
    lift_max_db: float = 12.0
    """Treble lift: each band centred above `ref_low_hz` is raised, before the log compression, toward the
    recent peak of the loudest band below it (kick, bass), by at most this (dB; 0: off) - a soft hat
    under a loud low sound rises in a few treble bands only, which the mean over all bands would drown ..."""
    lift_release_s: float = 3.0
    """... the bands' recent peaks follow a louder frame at once and decay with this time constant, s ..."""
    lift_noise: float = 0.1
    """... and a band's recent floor (its quietest frames, rising with `agc_floor_rise_s`), after the level
    control, is raised no higher than this (magnitude x gamma, full-scale units): steady noise stays down."""
    threshold_offset: float = 0.05
    """Absolute part of the adaptive threshold (detection-function units)."""
    threshold_ratio: float = 1.2
    """Multiplier of the moving median of the detection function."""
    median_window_s: float = 0.1
    """Length of the past used for the moving median, s."""
    masking_ratio: float = 0.5
    """After a detection-function peak P, the threshold is at least masking_ratio * P ..."""
    masking_s: float = 0.03
    """... decaying with this time constant, s (suppresses a hit's own secondary peaks)."""
    pre_frames: int = 6
    post_frames: int = 1
    floor_dbfs: float = -75.0
    """A frame must have an RMS level above this (dBFS) to hold an onset."""
    min_interval_s: float = 0.03
    """Minimum time between two onsets, s."""
    lookback_s: float = 0.005
    """Backtracking also searches this much before the peak's frame, s."""
    min_rise_db: float = 0.0
    """The attack must lift the sample envelope this many dB over the quietest point before it."""
    attack_db: float = 30.0
    """Onset = first sample within this many dB of the attack's top level."""
    rise_fraction: float = 0.2
    """... and not below this fraction of the rise (dB) from the quietest point before the attack."""
    energy_rise: float = 0.2
    """The hop after the peak frame must hold at least this times the energy of the hop before the frame ..."""
    treble_rise: float = 1.0
    """... or its first difference (the treble) this times that of the hop before: a soft hat over a
    decaying kick is a hit, a kick cut dead while a hat rings on is none."""
    late_rise_db: float = 6.0
    """An attack backtracked to within min_interval_s of the last onset is searched again after that
    interval, and counts only when the level rises this many dB there over its loudest point of the LATE_REF_S
    before (a new hit, not the flam's main note); so does an attack within min_interval_s after one dropped so."""
    max_latency_s: float = 0.012
    """Onsets are reported at most this long after their sample (bounds the backtracking), s."""
    envelope_s: float = 0.0005
    """Resolution of the level envelope used for backtracking, s (at most 0.002)."""
    dc_cutoff_hz: float = 10.0
    low_cut_hz: float = 150.0
    """The frames of the detection function (only: level checks and backtracking keep the DC-blocked
    signal) are high-passed at this frequency too, Hz (one pole; 0: not).  A DC offset fading out at a
    one-shot's end (many sample files end on one) is a slow sub-bass swell, no hit; through the DC
    blocker alone it leaks into the low bands as a strong rise."""

    trees: bool = True
    """Rescue peaks under the fixed thresholds with the shipped classifier (realtime.onset_trees: gradient-boosted
    trees over a candidate's features, fitted on rendered loops): a peak above `candidate_offset` (and the
    moving median), not a truncation, that misses `threshold_offset` or the masking threshold, is an onset
    when the trees give it a probability above `accept_prob` and it adds energy (the hop after its frame at
    least as strong as the hop before the frame, in full or in the treble: no sound cut dead under another).
    A peak passing the fixed thresholds is an onset as before, unless a rescued one came less than
    `min_interval_s` before it (then, as after any onset, only a new attack after the interval counts).
    Off with `post_frames = 0` (the energy check needs the hop after the peak frame).  False: the fixed
    thresholds alone."""
    candidate_offset: float = 0.02
    """With `trees`: the absolute threshold of a candidate peak (detection-function units; above
    `threshold_offset` it changes nothing: a peak above the fixed thresholds is an onset either way)."""
    accept_prob: float = 0.7
    """With `trees`: a candidate under the fixed thresholds is an onset when its probability of being a hit is
    above this (0-1)."""

    @property
    def trees_on(self) -> bool:
        """Whether a detector with these settings runs the candidate trees (`trees`, and the hop after the peak
        frame, which their energy check needs: `post_frames` >= 1)."""
        return self.trees and self.post_frames >= 1

    def __post_init__(self):
        for f in fields(self):  # (inf turns a rise check off: the hop after must hold inf x more)
            value = getattr(self, f.name)
            if not isinstance(value, bool) and not (math.isfinite(float(value)) or (
                    f.name in ("energy_rise", "treble_rise") and float(value) == math.inf)):
                raise ValueError(f"OnsetParams.{f.name} = {value!r}: must be a finite number")
        for name in ("window_s", "hop_s", "log_gamma", "median_window_s", "envelope_s", "dc_cutoff_hz",
                     "agc_floor_rise_s", "lift_release_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be > 0")
        for name in ("min_interval_s", "lookback_s", "threshold_offset", "threshold_ratio", "attack_db", "min_hz",
                     "low_cut_hz", "rise_fraction", "late_rise_db", "energy_rise", "treble_rise", "agc_release_s",
                     "agc_max_gain_db", "agc_cut_above_db", "lift_max_db", "lift_noise", "top_bands", "ref_low_hz",
                     "masking_s", "masking_ratio", "max_latency_s", "candidate_offset", "accept_prob"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be >= 0")
        for name in ("min_bins", "n_bands", "ref_frames", "ref_frames_low"):
            if getattr(self, name) < 1:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be >= 1")
        for name, most in (("window_s", 0.1), ("median_window_s", 10.0), ("envelope_s", 0.002), ("lookback_s", 0.1),
                           ("max_latency_s", 0.1), ("min_interval_s", 10.0)):
            if float(getattr(self, name)) > most:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be <= {most:g} s")
        for name, most in (("max_hz", 1e6), ("n_bands", 1000), ("min_bins", 1000), ("ref_frames", 1000),
                           ("ref_frames_low", 1000), ("top_bands", 1000), ("pre_frames", 1000), ("post_frames", 1000)):
            if float(getattr(self, name)) > most:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be <= {most:g}")
        if self.accept_prob > 1:
            raise ValueError(f"OnsetParams.accept_prob = {self.accept_prob!r}: must be <= 1")
        if not self.max_hz > self.min_hz:
            raise ValueError(f"OnsetParams min_hz={self.min_hz}, max_hz={self.max_hz}: need max_hz > min_hz")
        if self.hop_s > self.window_s:
            raise ValueError(f"OnsetParams.hop_s = {self.hop_s}: must not exceed window_s = {self.window_s}")
        if self.pre_frames < 1 or self.post_frames < 0:
            raise ValueError(f"OnsetParams pre_frames={self.pre_frames}, post_frames={self.post_frames}: "
                             "need pre_frames >= 1 and post_frames >= 0")


@dataclass(frozen=True)
class Onset:
    """One detected onset."""

    sample: int
    """Absolute sample index (at the detector's rate) of the attack start."""
    time: float
    """Seconds: sample / sample_rate."""
    strength: float
    """Detection-function peak (mean log-flux)."""
    confirmed: int = 0
    """Absolute sample index one past the last input sample its decision needed: process() reports it
    for the block holding sample `confirmed - 1`, whatever the blocks' lengths."""


class _DcAndHighPass:
    """The DC blocker and, on its output, the high-pass: one-pole filters y[n] = g (x[n] - x[n-1]) + r y[n-1]
    (the DC blocker's g is 1; no high-pass: its output is its input), on float32 blocks of any length.

    Both are linear, so every output sample of a `chunk` is a fixed combination of the first differences of the
    chunk's input and the state before it (the last DC-blocked and high-passed samples): a (2, chunk, chunk + 2)
    matrix, found by running the recursions on unit inputs, turns [state, differences] into both outputs in ONE
    product per chunk (the same as the recursions up to float64 rounding).  Two numpy calls a block, not ten per
    filter: the detector runs on a thread that sleeps between blocks, and every call then costs microseconds.
    The differences, not the samples, go in, as in the recursion: a constant input (an offset over digital
    silence) gives exactly 0, which the level control's floor takes for "not known yet".
    """

    def __init__(self, r_dc: float, hp: tuple[float, float] | None, chunk: int = 128):
        self._chunk = chunk
        self._hp = hp
        self._m = _cascade_matrix(chunk, r_dc, hp)
        self._x = np.zeros(chunk + 1)
        """[last input sample, the chunk's samples]."""
        self._w = np.zeros(chunk + 2)
        """[last DC-blocked sample, last high-passed sample, the chunk's first differences]: the product's vector."""

    @property
    def last_input(self) -> float:
        """The last input sample (the one before the next block)."""
        return float(self._x[0])

    def start_at(self, x0: float) -> None:
        """Take x0 as the input before the first sample (a stream starting with an offset has no step)."""
        self._x[0] = x0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(2, len(x)) float64: the DC-blocked samples of x and their high-passed copy."""
        n, c = x.size, self._chunk
        if n > c:  # a long block: chunk by chunk
            out = np.empty((2, n))
            for a in range(0, n, c):
                out[:, a:a + c] = self(x[a:a + c])
            return out
        xs, w = self._x, self._w
        xs[1:n + 1] = x
        np.subtract(xs[1:n + 1], xs[:n], out=w[2:n + 2])
        y = self._m[:, :n, :n + 2] @ w[:n + 2]  # the matrix's top-left part serves a shorter chunk
        w[:2] = y[:, -1]
        xs[0] = xs[n]
        return y

    def zeros(self, n: int) -> np.ndarray:
        """(2, n) float64: n DC-blocked zeros (flush's padding, which skips the DC blocker) and their high-passed
        copy, the high-pass's state decaying."""
        out = np.zeros((2, n))
        if self._hp is not None:
            g, r = self._hp
            out[1] = (g * (0.0 - self._w[0]) + r * self._w[1]) * r ** np.arange(n)
        return out


def _cascade_matrix(n: int, r_dc: float, hp: tuple[float, float] | None) -> np.ndarray:
    """(2, n, n + 2) matrix of _DcAndHighPass: row t of [0] / [1] gives the DC-blocked / high-passed sample t
    from [last DC-blocked, last high-passed, u_0 .. u_{n-1}], u the input's first differences; hp (g, r) None:
    no high-pass."""
    basis = np.eye(n + 2)
    y_prev, h_prev = basis[0], basis[1]
    out = np.empty((2, n, n + 2))
    for t in range(n):  # the recursions, on the coefficients of every input at once
        y = basis[2 + t] + r_dc * y_prev
        h = y if hp is None else hp[0] * (y - y_prev) + hp[1] * h_prev
        out[0, t], out[1, t] = y, h
        y_prev, h_prev = y, h
    return out


class OnsetDetector:
    """Streaming drum onset detector: feed mono blocks of any length to `process`."""

    def __init__(self, sample_rate: int, params: OnsetParams = OnsetParams(), forest: Forest | None = None):
        """`forest`: the candidate classifier to use instead of the shipped one (only with params.trees)."""
        if int(sample_rate) < 4000:
            raise ValueError(f"sample rate {sample_rate} Hz: need at least 4000 Hz")
        self.sample_rate = sr = int(sample_rate)
        self.params = p = params
        self.hop = max(1, int(round(p.hop_s * sr)))
        self.n_win = max(self.hop, _fast_length_near(int(round(p.window_s * sr))))
        self.lookback = int(round(p.lookback_s * sr))
        self.env_len = max(1, int(round(p.envelope_s * sr)))
        self.min_interval = int(round(p.min_interval_s * sr))
        # backtracking reaches at most max_back samples before the peak frame's end
        self.max_back = max(self.hop, int(p.max_latency_s * sr) - (p.post_frames + 1) * self.hop)
        self.window = np.hanning(self.n_win + 2)[1:-1].astype(np.float32)
        freqs = np.fft.rfftfreq(self.n_win, 1.0 / sr)

        def in_range(f: np.ndarray) -> np.ndarray:  # FFT bin frequencies f (Hz, from 0) within min_hz..max_hz
            return (f >= max(p.min_hz, f[1] * 0.99)) & (f <= p.max_hz)

        self.bins = np.flatnonzero(in_range(freqs))
        if self.bins.size == 0:
            raise ValueError(f"OnsetParams min_hz={p.min_hz}, max_hz={p.max_hz}: no FFT bin at {sr} Hz")
        self.bands = _band_matrix(freqs[self.bins], max(1, p.n_bands), p.min_bins, p.max_hz)
        # the detection function divides by the bands of the full layout (as if the Nyquist frequency reached
        # max_hz): below 2 x max_hz the missing top bands count as bands with no rise, so it means what it means at
        # 44.1 and 48 kHz (at 16 kHz, 13 bands of 17: a cymbal's flicker in the bands left was a larger share of it)
        full = np.arange(int(p.max_hz / freqs[1]) + 2) * freqs[1]  # the same bins, on up to max_hz
        self.n_bands_full = max(self.bands.shape[1],
                                _band_matrix(full[in_range(full)], max(1, p.n_bands), p.min_bins, p.max_hz).shape[1])
        self.scale = np.float32(2.0 * p.log_gamma / self.window.sum())
        self.floor_ms = 10 ** (p.floor_dbfs / 10) * float(np.mean(self.window ** 2))
        r = self._r_dc = float(np.exp(-2 * np.pi * p.dc_cutoff_hz / sr))
        r2 = float(np.exp(-2 * np.pi * p.low_cut_hz / sr)) if p.low_cut_hz > 0 else 1.0
        self._filters = _DcAndHighPass(r, ((1 + r2) / 2, r2) if p.low_cut_hz > 0 else None)
        self._started = False  # the DC blocker starts at the first sample (an offset at the start is no step)
        self.n_median = max(1, int(round(p.median_window_s / p.hop_s)))
        self.keep = self.n_win + self.lookback + (p.post_frames + 3) * self.hop
        # DC-blocked samples (row 0) and their high-passed copy (row 1) sit in a preallocated store: absolute
        # sample s in column s + _col0; the live part is [_buf_start, _n) (zeros before the stream); appending
        # writes after it, trimming only moves _buf_start.  _hp_windows: every n_win-sample window of row 1 (a
        # strided view), so a block's frames are one slice of it.
        self._store = np.zeros((2, 8 * self.keep), dtype=np.float32)
        self._buf_start = -self.keep
        self._col0 = self.keep
        self._hp_windows = np.lib.stride_tricks.sliding_window_view(self._store[1], self.n_win)
        self._n = 0
        # what _trim keeps before the oldest sample a frame still needs (backtracking's reach, _cut_after's hop)
        self._late_ref = max(1, int(round(LATE_REF_S * sr / self.env_len)))  # envelope steps before a late attack
        self._trim_margin = max(self.lookback + (self._late_ref + 2) * self.env_len, 2 * self.hop)
        self._next_end = self.hop  # absolute end index of the next frame
        # the band averages only need the FFT bins min_hz..max_hz, a contiguous run
        self._bin_slice = slice(int(self.bins[0]), int(self.bins[-1]) + 1)
        centre = freqs[self.bins] @ self.bands  # mean frequency of each band's bins
        self._low = centre < p.ref_low_hz
        self._r_hi = max(1, p.ref_frames)
        self._r_lo = max(1, p.ref_frames_low) if self._low.any() else self._r_hi
        # bands ascend in frequency, so the low bands are the first _n_low columns
        self._n_low = int(np.count_nonzero(self._low)) if self._r_lo != self._r_hi else 0
        self._r = max(self._r_hi, self._r_lo)
        # band magnitudes (x scale) of past frames: rows [_n_mag - _r, _n_mag) are the _r latest (zeros before)
        self._new_mags(np.zeros((self._r + 64, self.bands.shape[1]), dtype=np.float32), self._r)
        self._work = np.empty((4, self.bands.shape[1]), dtype=np.float32)  # see _frames
        self._mask = 0.0  # masking threshold after the last peak
        # the candidate classifier: its trees; the bands of its four frequency ranges as an averaging matrix;
        # the latest frames' band rises, log magnitudes and RMS re the recent peak in rings (see _keep_frames)
        # (the trees need the hop after the peak frame: with post_frames = 0 it has not arrived, so they are off)
        self.forest = (forest if forest is not None else load_forest()) if p.trees_on else None
        self.candidates: list[tuple[int, np.ndarray, bool]] | None = None
        """Set to a list to have each candidate's (attack sample, FEATURES row, whether it passed the fixed
        thresholds) appended, those under them only when they add energy (the ones the trees decide on; to fit
        the trees)."""
        part = np.searchsorted(np.asarray(RANGES_HZ), centre, side="right")
        avg = (part[:, None] == np.arange(len(RANGES_HZ) + 1)[None, :]).astype(np.float32)
        self._range_avg = avg / np.maximum(avg.sum(axis=0), 1)  # an empty range (a low sample rate) reads 0
        self._back = max(1, int(round(BACK_S / p.hop_s)))
        n_b = self.bands.shape[1]
        self._ring_pos = np.zeros((64, n_b), dtype=np.float32)
        self._ring_mag = np.zeros((64, n_b), dtype=np.float32)
        self._ring_level = np.ones(64)
        self._peak = 0.0  # recent peak frame RMS (instant rise, decaying with agc_release_s or 10 s)
        self._peak_decay = float(np.exp(-p.hop_s / (p.agc_release_s if p.agc_release_s > 0 else 10.0)))
        self._last_cand = -10 ** 12  # attack sample and detection-function peak of the last candidate
        self._last_cand_v = 0.0
        # attack samples of the candidates of the last 0.5 s (the trees' context features): above the fixed
        # thresholds, and under them; trimmed as they come, so an hour of loud hits keeps only the last ones
        self._fixed_at: deque[int] = deque()
        self._under_at: deque[int] = deque()
        self._env = 0.0  # peak follower of the frame RMS, for the gain
        self._floor = 0.0  # floor follower (0: not yet known)
        self._floor_rise = float(np.exp(p.hop_s / p.agc_floor_rise_s))
        # treble lift: the bands centred below ref_low_hz (the first _n_ref columns) set the reference, the
        # bands above are raised; followers: the recent peak (first half) and minus the recent floor (second
        # half) of each band, as they stand before the next frame
        self._n_ref = int(np.count_nonzero(self._low))
        self._lift = p.lift_max_db > 0 and 0 < self._n_ref < self._low.size
        self._lift_inv = float(10 ** (-p.lift_max_db / 20))
        n_b = self.bands.shape[1]
        self._lift_rates = np.concatenate([np.full(n_b, np.exp(-p.hop_s / p.lift_release_s)),
                                           np.full(n_b, self._floor_rise)])
        self._lift_buf = np.concatenate([np.zeros(n_b), np.full(n_b, -np.inf)]).astype(np.float32)[None, :]
        self._lift_last = 0  # the row of _lift_buf holding the followers' state
        self._lift_tables(64)
        self._noise_level = float(10 ** (p.agc_noise_db / 20))
        self._env_decay = float(np.exp(-p.hop_s / p.agc_release_s)) if p.agc_release_s > 0 else 0.0
        self._max_gain = float(10 ** (p.agc_max_gain_db / 20))
        self._cut_level = float(10 ** ((p.agc_target_db + min(p.agc_cut_above_db, 1000.0)) / 20))
        self._agc_level = float(10 ** (p.agc_target_db / 20))  # frame RMS, full scale 1
        self._mask_decay = float(np.exp(-p.hop_s / p.masking_s)) if p.masking_s > 0 else 0.0
        # detection-function history kept: the median's, the peak window's, and the classifier's past_max (40 frames)
        past_frames = _PAST_FRAMES if self.forest is not None else 0
        self._hist = max(self.n_median, p.pre_frames, past_frames) + p.post_frames + 2
        # Python lists, not arrays: _decide's usual path (no candidate peak) then makes no numpy call
        self._df: list[float] = []  # recent detection function values
        self._ok: list[bool] = []  # frame clear of non-finite stretches (the level is checked in _decide)
        self._bad: list[list[int]] = []  # [first, last+1] sample of each recent non-finite stretch (or zero padding)
        self._bad_run = 0  # non-finite samples ending the last block (a run going on into the next)
        self._hold_max = max(1, int(round(HOLD_MAX_S * sr)))
        self._df_first = 0  # frame number of _df[0] (frame k ends at (k + 1) * hop)
        self._next_check = 0  # next frame number to decide on
        self._last_onset = -10 ** 12
        self._last_dropped = -10 ** 12  # the last attack dropped for min_interval (a flam's main note)
        self._flushed = False

    @property
    def back_samples(self) -> int:
        """The most samples an onset lies before the end of its peak frame (how far backtracking reaches)."""
        return min(self.n_win + self.lookback, self.max_back)

    @property
    def latency_samples(self) -> int:
        """Worst-case samples between an onset's sample and the end of the block that reports it."""
        return self.back_samples + (self.params.post_frames + 1) * self.hop

    # ------------------------------------------------------------------
    def process(self, block: np.ndarray) -> list[Onset]:
        """Feed one mono block (any length); returns the onsets it confirmed, in order."""
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 1:
            x = x.reshape(-1)
        if x.size == 0:
            return []
        # one product finds all samples finite and well inside the clip range: a NaN or inf propagates into
        # the sum of squares, and a sum below 1e5 keeps every sample far below 1e3 (about 316)
        if not x @ x <= 1e5:
            x = self._sanitize(x)  # (clipping samples within +-1e6 changes nothing)
        else:
            self._bad_run = 0
        if not self._started:  # a stream starting with an offset has no step
            self._filters.start_at(float(x[0]))
            self._started = True
        self._append(self._filters(x))
        self._frames()
        out = self._decide()
        self._trim()
        return out

    def flush(self) -> list[Onset]:
        """End of stream: decide on the last frames (zero padding); the detector is then spent."""
        if self._flushed:
            return []
        end = self._n
        self._started = True
        pad = self.n_win + (self.params.post_frames + 2) * self.hop
        self._bad.append([end, end + pad])  # the padding is no signal
        self._append(self._filters.zeros(pad))
        self._frames()
        out = [o for o in self._decide() if o.sample < end]
        self._flushed = True
        return out

    # ------------------------------------------------------------------
    def _sanitize(self, x: np.ndarray) -> np.ndarray:
        """NaN/inf: a run of up to `HOLD_MAX_S` -> bridged from the sample before it to the one after (a stray
        bad sample is no click, and no hit is lost to it); a longer run (a dropout) -> 0, recording the
        stretch: frames touching it hold no onset.  Then clip to +-1e6 (a float file stored at 16-bit integer
        scale, +-32767, is heard as it is)."""
        finite = np.isfinite(x)
        if not finite.all():
            x, runs, self._bad_run = fill_nonfinite(x, float(self._filters.last_input), self._bad_run,
                                                    self._hold_max)
            for a, b in runs:  # the long runs, zeroed
                if not self._bad or self._n + a - self._bad[-1][1] > self.n_win + (self._r + 1) * self.hop:
                    self._bad.append([self._n + a, self._n + b])  # a new stretch
                else:
                    self._bad[-1][1] = self._n + b  # the previous one goes on
        else:
            self._bad_run = 0
        return np.clip(x, -1e6, 1e6)

    def _append(self, y: np.ndarray) -> None:
        """Append (2, n) samples to the store: DC-blocked (row 0) and high-passed (row 1)."""
        n = y.shape[1]
        if self._n + self._col0 + n > self._store.shape[1]:  # full: move the live part to the front
            live = self._n - self._buf_start
            store = self._store
            if live + n > store.shape[1]:
                store = np.empty((2, 2 * (live + n)), dtype=np.float32)
            start = self._buf_start + self._col0
            store[:, :live] = self._store[:, start:start + live]
            if store is not self._store:
                self._store = store
                self._hp_windows = np.lib.stride_tricks.sliding_window_view(store[1], self.n_win)
            self._col0 = -self._buf_start
        end = self._n + self._col0
        self._store[:, end:end + n] = y
        self._n += n

    def _dc_blocked(self, start: int, end: int) -> np.ndarray:
        """DC-blocked samples [start, end) (absolute indices; live ones): a view of the store."""
        return self._store[0, start + self._col0:end + self._col0]

    def _trim(self) -> None:
        """Drop samples that no future frame or backtracking can need."""
        oldest = (self._next_check + 1) * self.hop  # the end of the next frame to decide on ...
        if self._next_end < oldest:  # ... or of the next frame to compute
            oldest = self._next_end
        need = oldest - self.n_win - self._trim_margin
        if need - self._buf_start > self.keep:
            self._buf_start = need

    def _new_mags(self, mags: np.ndarray, n_mag: int) -> None:
        """Take `mags` as the store of band magnitudes, its rows [n_mag - _r, n_mag) the _r latest, and make its
        sliding views: _ref_lo[j] / _ref_hi[j] (bands, window) are the low / other bands of the r_lo / r_hi rows
        from row j on, so one maximum over their last axis gives the references of a block's frames."""
        self._mags, self._n_mag = mags, n_mag
        nl = self._n_low
        view = np.lib.stride_tricks.sliding_window_view
        self._ref_lo = view(mags[:, :nl], self._r_lo, axis=0) if nl else None
        self._ref_hi = view(mags[:, nl:], self._r_hi, axis=0) if nl < mags.shape[1] else None

    def _wrap_mags(self, nf: int) -> None:
        """Make room for nf new rows in the band-magnitude store: its last _r rows move to the front (into a
        larger store when it cannot hold them apart from the new rows)."""
        r, mags = self._r, self._mags
        if r + nf > mags.shape[0] - r:
            mags = np.empty((r + max(64, nf), mags.shape[1]), dtype=np.float32)
        mags[:r] = self._mags[self._n_mag - r:self._n_mag]
        if mags is self._mags:
            self._n_mag = r
        else:
            self._new_mags(mags, r)

    def _frames(self) -> None:
        if self._next_end > self._n:
            return
        nf = (self._n - self._next_end) // self.hop + 1  # frames ending in the new samples
        first_end = self._next_end
        self._next_end += nf * self.hop
        s0 = first_end - self.n_win + self._col0  # store column of the first frame's first sample
        framed = self._hp_windows[s0:s0 + nf * self.hop:self.hop] * self.window  # (frames, n_win)
        spec = np.abs(np.fft.rfft(framed, axis=1)[:, self._bin_slice]) @ self.bands
        # the frames' band magnitudes (x scale) go to rows [0, nf) of `work`, their references to [nf, 2 nf):
        # one log1p for both
        if 2 * nf > self._work.shape[0]:
            self._work = np.empty((2 * nf, spec.shape[1]), dtype=np.float32)
        work = self._work[:2 * nf]
        mag, ref = work[:nf], work[nf:]
        np.multiply(spec, self.scale, out=mag)
        if self._n_mag + nf > self._mags.shape[0]:
            self._wrap_mags(nf)
        k = self._n_mag
        self._mags[k:k + nf] = mag
        self._n_mag += nf
        # reference of frame i: the band-wise maximum of the r_hi (low bands: r_lo) frames before it, all of
        # the block's frames in one maximum over the windows of the sliding views
        r, nl = self._r, self._n_low
        if nl:
            np.maximum.reduce(self._ref_lo[k - self._r_lo:k - self._r_lo + nf], axis=-1, out=ref[:, :nl])
        if self._ref_hi is not None:
            np.maximum.reduce(self._ref_hi[k - self._r_hi:k - self._r_hi + nf], axis=-1, out=ref[:, nl:])
        level = None
        if self.params.agc_release_s > 0 or self.forest is not None:  # windowed frame RMS
            level = np.sqrt(np.einsum("ij,ij->i", framed, framed) / framed.shape[1])
        gains = self._gains(level)
        if gains is not None:
            gains = np.array(gains, dtype=np.float32)[:, None]  # (frames, 1)
        if self._lift or gains is not None:
            pair = work.reshape(2, nf, -1)  # [frames, references]: each gain applies to both alike
            if self._lift:
                pair[:, :, self._n_ref:] *= self._lift_gains(mag, gains)
            if gains is not None:  # so a change of gain is no rise
                pair *= gains
        np.log1p(work, out=work)
        pos = mag - ref
        np.maximum(pos, 0.0, out=pos)
        if self.forest is not None:
            self._keep_frames(first_end // self.hop - 1, pos, mag, level)
        kb = self.params.top_bands
        # the mean over the full layout's bands (without np.mean's overhead), or over the kb strongest of them
        # (the missing ones, no rise, are never stronger than a band present)
        n = min(kb, self.n_bands_full) if kb > 0 else self.n_bands_full
        if 0 < kb < pos.shape[1]:
            pos = np.partition(pos, pos.shape[1] - kb, axis=1)[:, -kb:]
        flux = np.add.reduce(pos, axis=1) / n
        self._df += flux.tolist()
        # frames overlapping a non-finite stretch, and the reference frames after it, are no onset
        reach = r * self.hop  # the reference frames after a stretch hold it too
        while self._bad and self._bad[0][1] + reach <= first_end - self.n_win:  # no frame from here on touches it
            self._bad.pop(0)
        if self._bad:
            self._ok += [not any(end - self.n_win < until + reach and end > first for first, until in self._bad)
                         for end in range(first_end, first_end + nf * self.hop, self.hop)]
        else:
            self._ok += [True] * nf

    def _keep_frames(self, k0: int, pos: np.ndarray, mag: np.ndarray, level: np.ndarray) -> None:
        """Keep frames k0, k0+1, ...'s band rises, log magnitudes and RMS re the recent peak frame RMS in the rings
        the classifier's features are taken from (frame k in row k % rows)."""
        nf = pos.shape[0]
        rows = self._ring_pos.shape[0]
        if nf + self._back + self.params.post_frames + 8 > rows:  # a long block: larger rings
            grown = 2 * (nf + self._back + self.params.post_frames + 8)
            ks = np.arange(k0 - rows, k0)
            for name in ("_ring_pos", "_ring_mag", "_ring_level"):
                old = getattr(self, name)
                new = np.zeros((grown,) + old.shape[1:], dtype=old.dtype)
                new[ks % grown] = old[ks % rows]
                setattr(self, name, new)
            rows = grown
        peak, decay = self._peak, self._peak_decay
        ratio = []
        for x in level.tolist():  # the peak follower before each frame
            peak *= decay
            ratio.append((x + 1e-9) / (peak + 1e-9) if peak > 0 else 1.0)
            if x > peak:
                peak = x
        self._peak = peak
        r0 = k0 % rows
        if r0 + nf <= rows:
            self._ring_pos[r0:r0 + nf] = pos
            self._ring_mag[r0:r0 + nf] = mag
            self._ring_level[r0:r0 + nf] = ratio
        else:
            at = np.arange(k0, k0 + nf) % rows
            self._ring_pos[at] = pos
            self._ring_mag[at] = mag
            self._ring_level[at] = ratio

    def _energy_change(self, frame_end: int) -> tuple[float, float]:
        """Energy of the hop after the frame ending at `frame_end` re the hop before the frame, in full and in the
        first difference (the treble), dB."""
        hop = self.hop
        before = self._dc_blocked(frame_end - self.n_win - 2 * hop, frame_end - self.n_win - hop).astype(np.float64)
        nxt = self._dc_blocked(frame_end, frame_end + hop).astype(np.float64)
        d_before, d_nxt = np.diff(before), np.diff(nxt)
        return (10 * np.log10((nxt @ nxt + 1e-12) / (before @ before + 1e-12)),
                10 * np.log10((d_nxt @ d_nxt + 1e-12) / (d_before @ d_before + 1e-12)))

    def _candidate_features(self, k: int, i: int, v: float, med: float, mask: float, sample: int,
                            change: tuple[float, float]) -> np.ndarray:
        """The FEATURES row of the candidate peak at frame k (`_df[i]` = v), its attack at `sample`, `change` its
        _energy_change (the recent candidates already trimmed to the 0.5 s before `sample`: _forget_before)."""
        p, df, hop = self.params, self._df, self.hop
        rows = self._ring_pos.shape[0]
        pos, mag = self._ring_pos[k % rows], self._ring_mag[k % rows]
        mag_back = self._ring_mag[(k - self._back) % rows] if k >= self._back else np.zeros_like(mag)
        ranges = np.stack([pos, mag, mag - mag_back]) @ self._range_avg  # (3, 4): rise, magnitude, its change
        top = min(3, pos.size)

        def at(offset: int) -> float:
            j = i + offset
            return df[j] / v if 0 <= j < len(df) else 0.0

        end = (k + 1) * hop
        _, _, env_db = self._steps(end - max(self.back_samples // self.env_len, 1) * self.env_len, end)  # (>= a step)
        past = df[max(0, i - _PAST_FRAMES):max(0, i - 6)]
        x = [v, med, mask, v / (p.threshold_ratio * med + p.threshold_offset + 1e-9), at(-1), at(-2), at(-4), at(1),
             (max(past) / v) if past else 0.0, change[0], change[1],
             20 * np.log10(self._ring_level[k % rows]), float(np.max(env_db - np.minimum.accumulate(env_db))),
             (end - sample) / self.sample_rate * 1000,
             min(1000.0, (sample - self._last_cand) / self.sample_rate * 1000),
             v / (self._last_cand_v + 1e-6), np.count_nonzero(pos > 0.1) / pos.size,
             float(np.partition(pos, pos.size - top)[pos.size - top:].mean())]
        since = (sample - self._fixed_at[-1]) / self.sample_rate * 1000 if self._fixed_at else 1000.0
        x += [float(len(self._fixed_at)), float(len(self._under_at)), min(1000.0, since)]
        return np.array(x + ranges.ravel().tolist(), dtype=np.float32)

    def _forget_before(self, horizon: int) -> None:
        """Drop the recent candidates' attack samples before `horizon` (absolute sample)."""
        for recent in (self._fixed_at, self._under_at):
            while recent and recent[0] < horizon:
                recent.popleft()

    def _lift_gains(self, mag: np.ndarray, gains: np.ndarray | None) -> np.ndarray:
        """Treble lift (frames, bands above ref_low_hz) from the band levels before each frame: each band
        raised to the recent peak of the loudest band below ref_low_hz, by at most `lift_max_db`, and its
        recent floor (times the level control's gains, (frames, 1), or None) to at most `lift_noise`; never
        below 1.  `mag`: the frames' band magnitudes (x scale) before any gain."""
        nf, nb = mag.shape
        n = self._n_ref
        if nf >= self._lift_pow.shape[0]:
            self._lift_tables(nf + 1)
        # followers: peak = max(m, decayed peak); -floor = max(-m, -(risen floor)); rows [0, nf] of s are
        # the state before the block and after each frame, all at once: with R the per-frame rates,
        # s[k] = max_j<=k s0[j] R^(k-j) = R^k * running max of (s0[j] R^-j)
        s = self._lift_buf[:nf + 1]
        s[0] = self._lift_buf[self._lift_last]
        s[1:, :nb] = mag
        np.negative(mag, out=s[1:, nb:])
        if not mag.all():  # an exact 0 (digital silence) says nothing about the floor (as in _gains)
            s[1:, nb:][mag == 0] = -np.inf
        np.multiply(s, self._lift_neg[:nf + 1], out=s)
        np.maximum.accumulate(s, axis=0, out=s)
        np.multiply(s, self._lift_pow[:nf + 1], out=s)
        self._lift_last = nf  # the state after the block, for the next one
        top = np.maximum.reduce(s[:nf, :n], axis=1, keepdims=True)
        lift = top / np.maximum(s[:nf, n:nb], top * self._lift_inv + 1e-12)  # <= 10^(lift_max_db/20)
        floor = s[:nf, nb + n:]  # minus the floor
        if gains is not None:
            floor = floor * gains
        np.minimum(lift, self.params.lift_noise / (1e-12 - floor), out=lift)
        return np.maximum(lift, 1.0, out=lift)

    def _lift_tables(self, rows: int) -> None:
        """Powers of the followers' per-frame rates for blocks of up to rows - 1 frames, and the state buffer."""
        k = np.arange(rows)[:, None]
        self._lift_pow = (self._lift_rates.astype(np.float64)[None, :] ** k).astype(np.float32)
        self._lift_neg = (self._lift_rates.astype(np.float64)[None, :] ** -k).astype(np.float32)
        buf = np.empty((rows, self._lift_rates.size), dtype=np.float32)
        buf[0] = self._lift_buf[self._lift_last]
        self._lift_buf, self._lift_last = buf, 0

    def _gains(self, level: np.ndarray | None) -> list[float] | None:
        """Per-frame gain from the levels before each frame: the recent peak level (frame RMS; instant rise,
        `agc_release_s` decay) raised to `agc_target_db`, by at most `agc_max_gain_db`, and the recent floor
        (the quietest frames; rising by `agc_floor_rise_s`) no higher than `agc_noise_db`; or, when the recent
        peak is more than `agc_cut_above_db` above the target, lowered to that level.  None when off, or 1 for
        every frame (an input from the target to that level: multiplying by 1 changes nothing)."""
        p = self.params
        if p.agc_release_s <= 0:
            return None
        out = []
        changed = False
        env, floor = self._env, self._floor
        # plain float arithmetic; comparisons, not min()/max(): the same values, and no call per frame
        for x in level.tolist():
            g = self._max_gain
            if env > 0 and self._agc_level / env < g:
                g = self._agc_level / env
            if floor > 0 and self._noise_level / floor < g:
                g = self._noise_level / floor
            if g > 1.0:
                changed = True
            elif env > self._cut_level:  # too loud: lowered (the floor is no matter)
                g = self._cut_level / env
                changed = True
            else:
                g = 1.0
            out.append(g)
            decayed = env * self._env_decay
            env = x if x > decayed else decayed
            risen = floor * self._floor_rise
            floor = x if floor <= 0 or x < risen else risen
        self._env, self._floor = env, floor
        return out if changed else None

    def _decide(self) -> list[Onset]:
        p = self.params
        trees = self.forest
        offset = min(p.candidate_offset, p.threshold_offset) if trees is not None else p.threshold_offset
        out: list[Onset] = []
        df = self._df
        last_frame = self._df_first + len(df) - 1
        while self._next_check + p.post_frames <= last_frame:
            k = self._next_check
            self._next_check += 1
            i = k - self._df_first
            v = df[i]
            mask = self._mask
            self._mask *= self._mask_decay
            # a peak above the fixed thresholds is an onset; with trees, one above the candidate's may be rescued
            if not self._ok[i] or v <= offset or (v <= mask and trees is None):
                continue
            if not self._level_ok((k + 1) * self.hop):
                continue
            lo = max(0, i - p.pre_frames)
            if i > lo and v < max(df[lo:i]):
                continue
            if p.post_frames and v <= max(df[i + 1: i + 1 + p.post_frames]):
                continue
            past = df[max(0, i - self.n_median): i]
            if k < self.n_median:  # the stream's first frames: before it there was silence (flux 0), so a
                past = past + [0.0] * (self.n_median - k)  # hit starting it is not measured against itself
            med = float(np.median(past)) if past else 0.0
            if v <= p.threshold_ratio * med + offset:
                continue
            fixed = trees is None or (v > mask and v > p.threshold_ratio * med + p.threshold_offset)
            if fixed:
                self._mask = max(self._mask, p.masking_ratio * v)
            end = (k + 1) * self.hop
            if p.post_frames and self._cut_after(end):
                continue
            sample = self._backtrack(end)
            if trees is not None and sample is not None:  # a candidate: the trees decide on one under the
                # fixed thresholds if it adds energy: the hop after its frame at least as strong as the hop before
                # the frame, in full or in the treble (a sound cut dead under another one splatters, adds none)
                x = None
                self._forget_before(sample - self.sample_rate // 2)  # the context of the last 0.5 s
                if not fixed or self.candidates is not None:  # (a fixed onset needs neither, unless recorded)
                    change = self._energy_change(end)
                    if fixed or change[0] >= 0 or change[1] >= 0:
                        x = self._candidate_features(k, i, v, med, mask, sample, change)
                        if self.candidates is not None:
                            self.candidates.append((int(sample), x, fixed))
                self._last_cand, self._last_cand_v = sample, v
                (self._fixed_at if fixed else self._under_at).append(int(sample))
                if not fixed and (x is None or probability(trees, x) <= p.accept_prob):
                    continue
            if sample is not None and sample - self._last_onset < self.min_interval:
                # the attack began within min_interval of the last onset (a flam's main note): only a
                # distinct new attack after min_interval counts
                dropped = sample
                sample = self._new_attack(end, self._last_onset + self.min_interval)
                if sample is None or sample - self._last_onset < self.min_interval:
                    # dropped; when it is an attack of its own (not a swell or a retrigger in the last hit's body,
                    # whose dropping says nothing of what follows), it is taken for the flam's main note
                    back = self._late_ref * self.env_len
                    if self._new_attack(end, dropped - back, MAIN_NOTE_RISE_DB) is not None:
                        self._last_dropped = dropped
            elif sample is not None and sample - self._last_dropped < self.min_interval:
                # within min_interval of a dropped attack (the flam's main note, for which its grace note's onset
                # stands): that note's own later peaks are no new hit (a snare whose body swells 10 ms in); a
                # distinct new attack is
                sample = self._new_attack(end, self._last_dropped + self._late_ref * self.env_len)
            if sample is None or sample - self._last_onset < self.min_interval:
                continue
            self._last_onset = sample
            out.append(Onset(int(sample), sample / self.sample_rate, float(v), (k + p.post_frames + 1) * self.hop))
        drop = len(df) - self._hist
        if drop > 0:
            del df[:drop], self._ok[:drop]
            self._df_first += drop
        return out

    def _level_ok(self, frame_end: int) -> bool:
        """The frame's level is above the floor, and its newer half not much quieter than the older, in full
        or in the treble (an abrupt stop splatters flux but is no hit).  Only asked of candidate peaks."""
        raw = self._dc_blocked(frame_end - self.n_win, frame_end)
        frame = raw * self.window
        ms = np.einsum("i,i->", frame, frame) / self.n_win  # mean square; einsum: no temporaries
        half = self.n_win // 2
        newer = np.einsum("i,i->", raw[half:], raw[half:]) / (self.n_win - half)
        older = np.einsum("i,i->", raw[:half], raw[:half]) / half
        if not ms > self.floor_ms:
            return False
        if newer >= 0.25 * older:
            return True
        # ... or in the treble (first difference): a soft hat over a loud low tone whose phase makes the
        # frame's newer half quieter than its older one is still a hit
        d = np.diff(raw)
        return bool(np.einsum("i,i->", d[half:], d[half:]) >= 0.25 * np.einsum("i,i->", d[:half], d[:half]))

    def _cut_after(self, frame_end: int) -> bool:
        """True when the hop after the peak frame holds less energy than the hop just before the frame, in
        full and in its first difference (the treble): no new sound arrived (e.g. the splatter of a sound
        cut dead, a NaN gap), so no hit.  A soft hat over a loud decaying kick adds little energy but much
        treble."""
        before = self._dc_blocked(frame_end - self.n_win - 2 * self.hop, frame_end - self.n_win - self.hop)
        nxt = self._dc_blocked(frame_end, frame_end + self.hop)
        # the input's own first differences (the DC blocker's y[n] - r y[n-1]): none in the hop after means
        # the input held still - stopped dead into digital silence or a constant, whose decaying step through
        # the blocker is no new sound; unless it holds still at the frame's extreme: a clipped hit's flat top
        # (only when something sounded before the frame - its hop there within 30 dB of the frame's level: a
        # click of a millisecond or two out of silence ends before the hop after its peak frame, and is a hit)
        if nxt.size > 1 and float(np.max(np.abs(nxt[1:] - self._r_dc * nxt[:-1]))) < 1e-6:
            frame = self._dc_blocked(frame_end - self.n_win, frame_end)
            if (float(np.dot(before, before)) / max(before.size, 1) > 1e-3 * float(np.dot(frame, frame)) / frame.size
                    and abs(float(nxt[0])) < 0.5 * float(np.max(np.abs(frame)))):
                return True
        rise = self.params.energy_rise
        if float(np.dot(nxt, nxt)) >= rise * float(np.dot(before, before)):
            return False
        d_nxt, d_before = np.diff(nxt), np.diff(before)
        return float(np.dot(d_nxt, d_nxt)) < self.params.treble_rise * float(np.dot(d_before, d_before))

    def _steps(self, first: int, frame_end: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """The level envelope in `envelope_s` steps aligned to `frame_end`, from the step holding sample `first` to
        frame_end: (its first sample, the DC-blocked samples' magnitudes, each step's peak in dB); None when empty."""
        start = first - (first - frame_end) % self.env_len
        if start >= frame_end:
            return None
        seg = np.abs(self._dc_blocked(start, frame_end))
        return start, seg, 20 * np.log10(seg.reshape(-1, self.env_len).max(axis=1) + 1e-9)

    def _new_attack(self, frame_end: int, not_before: int, min_rise_db: float | None = None) -> int | None:
        """A distinct new attack within the peak frame and lookback_s before it, from `not_before` on: where the
        level envelope (`envelope_s` steps) rises most over its loudest point of the LATE_REF_S before, when that
        is at least `min_rise_db` (default `late_rise_db`); its onset (absolute sample) the first sample past `rise_fraction` of that
        rise.  None when no step rises so.  Measured from the loudest, not the quietest, point before: the
        envelope of a noisy sound (a snare's body, a hat) dips and recovers by several dB from step to step."""
        start = max(frame_end - self.back_samples, not_before)
        if start >= frame_end:
            return None
        ref = self._late_ref
        lo, seg, env_db = self._steps(start - ref * self.env_len, frame_end)  # (the `ref` steps before it too)
        before = np.lib.stride_tricks.sliding_window_view(env_db[:-1], ref).max(axis=1)  # the loudest `ref` before
        rise = env_db[ref:] - before
        j = int(np.argmax(rise))
        if rise[j] < (self.params.late_rise_db if min_rise_db is None else min_rise_db):
            return None
        thr = before[j] + self.params.rise_fraction * rise[j]
        step = seg[(ref + j) * self.env_len: (ref + j + 1) * self.env_len]
        return max(0, lo + (ref + j) * self.env_len + int(np.argmax(step >= 10 ** (thr / 20))))

    def _backtrack(self, frame_end: int) -> int | None:
        """Attack start (absolute sample, >= 0) within the peak frame and lookback_s before it; None when the level
        rises less than `min_rise_db`.  Before the stream the store holds zeros, so a hit starting it rises from
        silence, as after silence."""
        steps = self._steps(frame_end - self.back_samples, frame_end)
        if steps is None:
            return None
        start, seg, env_db = steps
        floor_db = np.minimum.accumulate(env_db)
        rise = env_db - floor_db
        j = int(np.argmax(rise))
        if rise[j] < self.params.min_rise_db:
            return None
        top = env_db[j]
        thr = max(floor_db[j] + self.params.rise_fraction * rise[j], top - self.params.attack_db)
        below = np.flatnonzero(env_db[: j + 1] < thr)
        i = int(below[-1]) + 1 if below.size else 0
        i = min(i, j)
        sub = seg[i * self.env_len: (i + 1) * self.env_len]
        first = int(np.argmax(sub >= 10 ** (thr / 20)))
        return max(0, start + i * self.env_len + first)


HOLD_MAX_S = 0.0005
"""A run of NaN/inf samples up to this long (s) is bridged by a straight line between the samples around it
(held at the sample before, when the block ends in it); a longer one is a dropout (silence)."""


def fill_nonfinite(x: np.ndarray, before: float, carry: int, hold_max: int,
                   long_value: float = 0.0) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """x (float32, some samples NaN/inf) with every run of non-finite samples of at most `hold_max` samples
    bridged by a straight line from the sample before it (`before`: the last sample of the previous block) to
    the one after it (held, when the block ends in the run), and every longer run replaced by `long_value`.
    `carry`: non-finite samples ending the previous block (a run going on here counts them).  Returns the
    filled copy, the long runs as (start, end) indices in x, and the non-finite samples ending x."""
    bad = ~np.isfinite(x)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], bad.view(np.int8), [0]))))
    out = x.copy()
    runs = []
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        length = b - a + (carry if a == 0 else 0)  # (a run going on into the next block: its length so far)
        if length <= hold_max:
            left = out[a - 1] if a > 0 else np.float32(before)
            if b < x.size:  # bridged: a straight line to the sample after it
                out[a:b] = left + (out[b] - left) * np.arange(1, b - a + 1, dtype=np.float32) / np.float32(b - a + 1)
            else:  # the block ends in it: held
                out[a:b] = left
        else:
            out[a:b] = long_value
            runs.append((a, b))
    end_run = int(edges[-1] - edges[-2]) + (carry if edges[-2] == 0 else 0) if edges.size and edges[-1] == x.size else 0
    return out, runs, end_run


def _fast_length_near(n: int) -> int:
    """The length closest to n (samples) whose only prime factors are 2, 3 and 5, for a fast FFT (the
    shorter one on a tie): 514 -> 512, 472 -> 480.  A 514-point FFT (2 x 257) costs four times a 512-point one."""
    def smooth(m: int) -> bool:
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        return m == 1

    for d in range(n):
        for m in (n - d, n + d):
            if m >= 8 and smooth(m):
                return m
    return max(n, 8)


def _band_matrix(freqs: np.ndarray, n_bands: int, min_bins: int = 1, top_hz: float | None = None) -> np.ndarray:
    """(n_bins, n_bands') matrix averaging FFT bins into log-spaced bands from the first bin to `top_hz`
    (default: the last bin; the same edges at any rate, bands above the last bin empty); empty bands are
    dropped, and a band of fewer than `min_bins` bins is merged with the bands above it until it has that many."""
    top = max(float(top_hz), float(freqs[-1])) if top_hz else float(freqs[-1])
    edges = np.geomspace(max(freqs[0], 1.0), top * 1.0001, n_bands + 1)
    idx = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, n_bands - 1)
    used = np.unique(idx)
    label = np.empty_like(idx)
    group, count = 0, 0
    for b in used:  # ascending: merge upwards until a group holds min_bins bins
        label[idx == b] = group
        count += int(np.count_nonzero(idx == b))
        if count >= min_bins:
            group, count = group + 1, 0
    if count and group:  # a short last group joins the one below it
        label[label == group] = group - 1
    groups = np.unique(label)
    m = (label[:, None] == groups[None, :]).astype(np.float32)
    return m / m.sum(axis=0, keepdims=True)


def collect_candidates(samples: np.ndarray, sample_rate: int, block_size: int = 128,
                       params: OnsetParams = OnsetParams()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate peak of mono `samples` as the live detector meets them (with a classifier accepting every
    one; those under the fixed thresholds only when they add energy, the ones the trees decide on): attack times
    (s), their FEATURES rows (n, features) and whether each passed the fixed thresholds.  For fitting the trees
    (scripts/fit_onset_trees.py) and for bench/onset_ceiling.py."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    det = OnsetDetector(sample_rate, params, forest=ACCEPT_ALL)
    det.candidates = []
    for i in range(0, x.size, block_size):
        det.process(x[i: i + block_size])
    det.flush()
    times = np.array([s / sample_rate for s, _, _ in det.candidates], dtype=np.float64)
    features = np.array([f for _, f, _ in det.candidates], np.float32).reshape(-1, len(FEATURES))
    return times, features, np.array([fixed for _, _, fixed in det.candidates], bool)


def detect(samples: np.ndarray, sample_rate: int, block_size: int = 256,
           params: OnsetParams = OnsetParams(), forest: Forest | None = None) -> np.ndarray:
    """Onset times (s) of mono `samples`, fed through OnsetDetector in blocks of `block_size` samples (`forest`:
    candidate trees instead of the shipped ones)."""
    if block_size < 1:
        raise ValueError(f"block_size {block_size}: must be >= 1")
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    det = OnsetDetector(sample_rate, params, forest)
    found: list[Onset] = []
    for i in range(0, x.size, block_size):
        found.extend(det.process(x[i: i + block_size]))
    found.extend(det.flush())
    return np.array([o.time for o in found], dtype=np.float64)
