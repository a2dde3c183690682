"""Streaming onset detector made for drums.

Pipeline, all of it block-size independent (frames sit on absolute sample
positions, so any block partition gives the same frames, up to float64 rounding
in the one-pole filters, and the same onsets):

1. NaN/inf -> 0 (frames touching them, and `ref_frames` after, hold no onset),
   then a one-pole DC blocker (`dc_cutoff_hz`): offsets never trigger.
2. Hann frames of `window_s` every `hop_s` of that signal high-passed once more
   (`low_cut_hz`, one pole; a DC offset fading out at a one-shot's end is a
   sub-bass swell, no hit); magnitudes averaged into `n_bands`
   log-spaced bands (`min_hz`..`max_hz`; a band of fewer than `min_bins` FFT
   bins merged upwards), raised by a level control (a quiet input by up to
   `agc_max_gain_db`, so that its recent peak frame RMS reaches
   `agc_target_db`, and its quietest frames no higher than `agc_noise_db`;
   never lowered), log-compressed log(1 + gamma |X|).  The frame and its
   reference (below) get the same gain, so a change of gain is no rise.
3. Detection function: mean over bands of the rise over the band-wise maximum
   of the `ref_frames` previous frames (noisy decays rarely exceed it); bands
   below `ref_low_hz` use `ref_frames_low` frames, a kick's whole period, so a
   low tone's phase moving through the short frame is no rise.
4. Peak picking: local maximum over `pre_frames` before / `post_frames` after,
   above `threshold_ratio` x moving median (`median_window_s`) + `threshold_offset`,
   above a masking threshold (`masking_ratio` x the last peak, decaying with
   `masking_s`), frame level above `floor_dbfs`, and not a truncation (the
   sound must not stop dead right after the frame: the hop after it must hold
   `energy_rise` x the energy of the hop before it, or `treble_rise` x that of
   its first difference; splatter of a cut is no hit).
5. Backtracking: in the DC-blocked samples before the peak frame's end (at
   most `max_latency_s` minus the confirmation delay), the attack is the point
   of biggest envelope rise (`envelope_s` resolution); the onset is where the
   level first climbs past `rise_fraction` of that rise (in dB) and to within
   `attack_db` of its top, to the sample.
6. Onsets closer than `min_interval_s` to the previous one are dropped (a flam
   is one hit, as in realtime.loops' ground truth): an attack backtracked to
   within that interval (a flam's main note, detected late) is searched again
   only after the interval, and kept only if the level rises `late_rise_db` there.

Defaults were tuned at 48 kHz on the tuning kits of bench/onset_eval.py (the
short hop, 1.33 ms, was chosen for its timing and confirmation delay on all its
sets; the level control and the 4-bin bands for quiet inputs and steady noise,
bench/onset_robustness.py; see BENCHMARKS.md); the same parameters (in seconds /
Hz) apply at any rate.  process() costs a few
numpy calls per hop (about 1.8 % of a core at 48 kHz, see bench/results/onsets.md).
The frame length is `window_s` rounded to the nearest length with no prime factor
above 5 (512 samples at 48 kHz, 480 at 44.1 kHz): a 514-point FFT cost four times
as much.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """Level control: a quiet input's frames are raised, before the log compression, so that the recent
    peak frame RMS (Hann-windowed, after `low_cut_hz`) reaches this level, dBFS (the loops of
    bench/onset_eval.py, peaking at 0.9, sit there): the thresholds then mean the same for an input
    peaking at -30 dBFS as at 0; the gain is never below 1 ..."""
    agc_release_s: float = 10.0
    """... the recent peak level follows a louder frame at once and decays with this time constant, s
    (0: no level control, gain 1) ..."""
    agc_max_gain_db: float = 30.0
    """... and the gain is at most this (dB) ..."""
    agc_noise_db: float = -46.0
    """... and raises the recent floor (the quietest frames' RMS, dBFS) no higher than this: steady noise
    (hiss, a wash) at this level does not trigger ..."""
    agc_floor_rise_s: float = 2.0
    """... the floor follows a quieter frame at once and rises with this time constant, s."""
    threshold_offset: float = 0.045
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
    interval, and counts only when the level rises this many dB there (a new hit, not the flam's main note)."""
    max_latency_s: float = 0.012
    """Onsets are reported at most this long after their sample (bounds the backtracking), s."""
    envelope_s: float = 0.0005
    """Resolution of the level envelope used for backtracking, s."""
    dc_cutoff_hz: float = 10.0
    low_cut_hz: float = 150.0
    """The frames of the detection function (only: level checks and backtracking keep the DC-blocked
    signal) are high-passed at this frequency too, Hz (one pole; 0: not).  A DC offset fading out at a
    one-shot's end (many sample files end on one) is a slow sub-bass swell, no hit; through the DC
    blocker alone it leaks into the low bands as a strong rise."""

    def __post_init__(self):
        for name in ("window_s", "hop_s", "log_gamma", "median_window_s", "envelope_s", "dc_cutoff_hz",
                     "agc_floor_rise_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be > 0")
        for name in ("min_interval_s", "lookback_s", "threshold_offset", "threshold_ratio", "attack_db", "min_hz",
                     "low_cut_hz", "rise_fraction", "late_rise_db", "energy_rise", "treble_rise", "agc_release_s",
                     "agc_max_gain_db"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"OnsetParams.{name} = {getattr(self, name)!r}: must be >= 0")
        if self.min_bins < 1:
            raise ValueError(f"OnsetParams.min_bins = {self.min_bins!r}: must be >= 1")
        if self.hop_s > self.window_s:
            raise ValueError(f"OnsetParams.hop_s = {self.hop_s}: must not exceed window_s = {self.window_s}")
        if self.pre_frames < 1 or self.post_frames < 0:
            raise ValueError(f"OnsetParams pre_frames={self.pre_frames}, post_frames={self.post_frames}: "
                             "need pre_frames >= 1 and post_frames >= 0")


@dataclass(frozen=True)
class Onset:
    sample: int
    """Absolute sample index (at the detector's rate) of the attack start."""
    time: float
    """Seconds: sample / sample_rate."""
    strength: float
    """Detection-function peak (mean log-flux)."""


class _OnePole:
    """One-pole high-pass y[n] = g (x[n] - x[n-1]) + r y[n-1] on float64 blocks of any length.

    Closed form instead of a per-sample loop: from rest, y = g L u with u the first difference of x and
    L[n, k] = r^(n - k) (k <= n); the state enters as the term r^(n+1) y[-1] = g L[n, 0] (r y[-1] / g).
    One matrix-vector product per `chunk` samples; the same as the recursion up to float64 rounding.
    """

    def __init__(self, g: float, r: float, chunk: int = 128):
        lag = np.arange(chunk)[:, None] - np.arange(chunk)[None, :]
        self._L = np.where(lag >= 0, g * r ** np.maximum(lag, 0), 0.0)
        self._state_gain = r / g
        self.x_prev = 0.0
        """Last input sample."""
        self.y_prev = 0.0
        """Last output sample."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xe = np.concatenate(((self.x_prev,), x), dtype=np.float64)
        u = xe[1:] - xe[:-1]
        if u.size == 0:
            return u
        c = self._L.shape[0]
        out = []
        for a in range(0, u.size, c):
            seg = u[a:a + c]
            seg[0] += self._state_gain * self.y_prev
            y = self._L[:seg.size, :seg.size] @ seg
            self.y_prev = float(y[-1])
            out.append(y)
        self.x_prev = float(xe[-1])
        return out[0] if len(out) == 1 else np.concatenate(out)


class OnsetDetector:
    """Streaming drum onset detector: feed mono blocks of any length to `process`."""

    def __init__(self, sample_rate: int, params: OnsetParams = OnsetParams()):
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
        self.bins = np.flatnonzero((freqs >= max(p.min_hz, freqs[1] * 0.99)) & (freqs <= p.max_hz))
        if self.bins.size == 0:
            raise ValueError(f"OnsetParams min_hz={p.min_hz}, max_hz={p.max_hz}: no FFT bin at {sr} Hz")
        self.bands = _band_matrix(freqs[self.bins], max(1, p.n_bands), p.min_bins, p.max_hz)
        self.scale = np.float32(2.0 * p.log_gamma / self.window.sum())
        self.floor_ms = 10 ** (p.floor_dbfs / 10) * float(np.mean(self.window ** 2))
        r = float(np.exp(-2 * np.pi * p.dc_cutoff_hz / sr))
        self._dc = _OnePole(1.0, r)
        self._started = False  # the DC blocker starts at the first sample (an offset at the start is no step)
        r2 = float(np.exp(-2 * np.pi * p.low_cut_hz / sr)) if p.low_cut_hz > 0 else 1.0
        self._hp = _OnePole((1 + r2) / 2, r2) if p.low_cut_hz > 0 else None
        self.n_median = max(1, int(round(p.median_window_s / p.hop_s)))
        self.keep = self.n_win + self.lookback + (p.post_frames + 3) * self.hop
        # DC-blocked samples (row 0) and their high-passed copy (row 1) sit in a preallocated store:
        # _buf / _hbuf are views of its live part, whose first sample has the absolute index _buf_start
        # (zeros before the stream); appending writes after it, trimming only moves the views.
        self._store = np.zeros((2, 8 * self.keep), dtype=np.float32)
        self._off = 0  # store column of _buf_start
        self._len = self.keep  # live samples
        self._buf_start = -self.keep
        self._set_views()
        self._win_idx = np.arange(self.n_win)
        self._n = 0
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
        self._mags = np.zeros((self._r + 64, self.bands.shape[1]), dtype=np.float32)
        self._n_mag = self._r
        self._mask = 0.0  # masking threshold after the last peak
        self._env = 0.0  # peak follower of the frame RMS, for the gain
        self._floor = 0.0  # floor follower (0: not yet known)
        self._floor_rise = float(np.exp(p.hop_s / p.agc_floor_rise_s))
        self._noise_level = float(10 ** (p.agc_noise_db / 20))
        self._env_decay = float(np.exp(-p.hop_s / p.agc_release_s)) if p.agc_release_s > 0 else 0.0
        self._max_gain = float(10 ** (p.agc_max_gain_db / 20))
        self._agc_level = float(10 ** (p.agc_target_db / 20))  # frame RMS, full scale 1
        self._mask_decay = float(np.exp(-p.hop_s / p.masking_s)) if p.masking_s > 0 else 0.0
        self._hist = max(self.n_median, p.pre_frames) + p.post_frames + 2
        self._df = np.zeros(0, dtype=np.float64)  # recent detection function values
        self._ok = np.zeros(0, dtype=bool)  # frame clear of non-finite stretches (the level is checked in _decide)
        self._bad_from = -10 ** 12  # first / last+1 sample of the latest non-finite stretch (or zero padding)
        self._bad_until = -10 ** 12
        self._df_first = 0  # frame number of _df[0] (frame k ends at (k + 1) * hop)
        self._next_check = 0  # next frame number to decide on
        self._last_onset = -10 ** 12
        self._flushed = False

    @property
    def latency_samples(self) -> int:
        """Worst-case samples between an onset's sample and the end of the block that reports it."""
        return min(self.n_win + self.lookback, self.max_back) + (self.params.post_frames + 1) * self.hop

    # ------------------------------------------------------------------
    def process(self, block: np.ndarray) -> list[Onset]:
        """Feed one mono block (any length); returns the onsets it confirmed, in order."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return []
        # one pass finds all samples finite and well inside the clip range (a NaN propagates through max)
        if not np.maximum.reduce(np.abs(x)) <= 1e3:
            x = self._sanitize(x)
        if not self._started:  # a stream starting with an offset has no step
            self._dc.x_prev = float(x[0])
            self._started = True
        y = self._dc(x)
        self._append(y)
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
        self._bad_from, self._bad_until = end, end + pad  # the padding is no signal
        self._append(np.zeros(pad))
        self._frames()
        out = [o for o in self._decide() if o.sample < end]
        self._flushed = True
        return out

    # ------------------------------------------------------------------
    def _sanitize(self, x: np.ndarray) -> np.ndarray:
        """NaN/inf -> 0 (recording the stretch: frames touching it hold no onset); clip to +-1e3."""
        finite = np.isfinite(x)
        if not finite.all():
            first_bad = self._n + int(np.argmin(finite))
            if first_bad - self._bad_until > self.n_win + (self._r + 1) * self.hop:
                self._bad_from = first_bad  # a new stretch (else the previous one goes on)
            self._bad_until = self._n + int(np.flatnonzero(~finite)[-1]) + 1
            x = np.where(finite, x, np.float32(0.0))
        return np.clip(x, -1e3, 1e3)

    def _set_views(self) -> None:
        self._buf = self._store[0, self._off:self._off + self._len]
        self._hbuf = self._store[1, self._off:self._off + self._len]

    def _append(self, y: np.ndarray) -> None:
        """Append DC-blocked samples (float64) to the buffer, and their high-passed copy to _hbuf."""
        h = y if self._hp is None else self._hp(y)
        n = y.size
        if self._off + self._len + n > self._store.shape[1]:  # full: move the live part to the front
            store = self._store
            if self._len + n > store.shape[1]:
                store = np.empty((2, 2 * (self._len + n)), dtype=np.float32)
            store[:, :self._len] = self._store[:, self._off:self._off + self._len]
            self._store, self._off = store, 0
        end = self._off + self._len
        self._store[0, end:end + n] = y
        self._store[1, end:end + n] = h
        self._len += n
        self._n += n
        self._set_views()

    def _trim(self) -> None:
        """Drop samples that no future frame or backtracking can need."""
        need = min(self._next_end - self.n_win,
                   (self._next_check + 1) * self.hop - self.n_win) - max(self.lookback + 2 * self.env_len, 2 * self.hop)
        drop = need - self._buf_start
        if drop > self.keep:
            self._off += drop
            self._len -= drop
            self._buf_start += drop
            self._set_views()

    def _frames(self) -> None:
        if self._next_end > self._n:
            return
        nf = (self._n - self._next_end) // self.hop + 1  # frames ending in the new samples
        first_end = self._next_end
        self._next_end += nf * self.hop
        s0 = first_end - self.n_win - self._buf_start
        if nf == 1:  # the usual case: a view, no copy
            hraw = self._hbuf[None, s0:s0 + self.n_win]
        else:
            hraw = self._hbuf[(s0 + self.hop * np.arange(nf))[:, None] + self._win_idx]  # (frames, n_win)
        framed = hraw * self.window
        spec = np.abs(np.fft.rfft(framed, axis=1)[:, self._bin_slice]) @ self.bands
        mag = spec * self.scale
        # reference of frame i: the band-wise maximum of the r_hi (low bands: r_lo) frames before it
        r, nl = self._r, self._n_low
        if self._n_mag + nf > self._mags.shape[0]:  # keep the last r rows, at the front
            mags = np.empty((r + max(64, nf), mag.shape[1]), dtype=np.float32)
            mags[:r] = self._mags[self._n_mag - r:self._n_mag]
            self._mags, self._n_mag = mags, r
        mags, k = self._mags, self._n_mag
        mags[k:k + nf] = mag
        self._n_mag += nf
        prev = np.empty_like(mag)
        for i in range(nf):
            if nl:
                np.maximum.reduce(mags[k + i - self._r_lo:k + i, :nl], axis=0, out=prev[i, :nl])
            if nl < prev.shape[1]:
                np.maximum.reduce(mags[k + i - self._r_hi:k + i, nl:], axis=0, out=prev[i, nl:])
        gain = self._gains(framed)
        if gain is not None:  # frame and reference alike, so a change of gain is no rise
            mag = mag * gain
            prev *= gain
        logmag = np.log1p(mag)
        prev = np.log1p(prev)
        pos = np.maximum(logmag - prev, 0.0)
        kb = self.params.top_bands
        if 0 < kb < pos.shape[1]:
            pos = np.partition(pos, pos.shape[1] - kb, axis=1)[:, -kb:]
        flux = np.add.reduce(pos, axis=1) / pos.shape[1]  # the mean, without np.mean's overhead
        # frames overlapping a non-finite stretch, and the reference frames after it, are no onset
        clean = np.ones(nf, dtype=bool)
        if self._bad_until > first_end - self.n_win - r * self.hop:
            ends = first_end + self.hop * np.arange(nf)
            clean = ~((ends - self.n_win < self._bad_until + r * self.hop) & (ends > self._bad_from))
        self._df = np.concatenate([self._df, flux.astype(np.float64)])
        self._ok = np.concatenate([self._ok, clean])

    def _gains(self, framed: np.ndarray) -> np.ndarray | None:
        """Per-frame gain (frames, 1) from the levels before each frame: the recent peak level (frame RMS;
        instant rise, `agc_release_s` decay) raised to `agc_target_db`, by at most `agc_max_gain_db`, and
        the recent floor (the quietest frames; rising by `agc_floor_rise_s`) no higher than `agc_noise_db`;
        never below 1.  None when off."""
        p = self.params
        if p.agc_release_s <= 0:
            return None
        level = np.sqrt(np.einsum("ij,ij->i", framed, framed) / framed.shape[1])  # windowed frame RMS
        out = np.empty((framed.shape[0], 1), dtype=np.float32)
        env, floor = self._env, self._floor
        for i in range(framed.shape[0]):
            g = min(self._max_gain, self._agc_level / env) if env > 0 else self._max_gain
            if floor > 0:
                g = min(g, self._noise_level / floor)
            out[i, 0] = max(g, 1.0)
            x = float(level[i])
            env = max(x, env * self._env_decay)
            floor = min(x, floor * self._floor_rise) if floor > 0 else x
        self._env, self._floor = env, floor
        return out

    def _decide(self) -> list[Onset]:
        p = self.params
        out: list[Onset] = []
        last_frame = self._df_first + self._df.size - 1
        while self._next_check + p.post_frames <= last_frame:
            k = self._next_check
            self._next_check += 1
            i = k - self._df_first
            v = self._df[i]
            mask = self._mask
            self._mask *= self._mask_decay
            if not self._ok[i] or v <= p.threshold_offset or v <= mask or not self._level_ok((k + 1) * self.hop):
                continue
            lo = max(0, i - p.pre_frames)
            if i > lo and v < self._df[lo:i].max():
                continue
            if p.post_frames and v <= self._df[i + 1: i + 1 + p.post_frames].max():
                continue
            past = self._df[max(0, i - self.n_median): i]
            med = float(np.median(past)) if past.size else 0.0
            if v <= p.threshold_ratio * med + p.threshold_offset:
                continue
            self._mask = max(self._mask, p.masking_ratio * v)
            end = (k + 1) * self.hop
            if p.post_frames and self._cut_after(end):
                continue
            sample = self._backtrack(end)
            if sample is not None and sample - self._last_onset < self.min_interval:
                # the attack began within min_interval of the last onset (a flam's main note): only a
                # distinct new attack after min_interval counts
                sample = self._backtrack(end, self._last_onset + self.min_interval, self.params.late_rise_db)
            if sample is None or sample - self._last_onset < self.min_interval:
                continue
            self._last_onset = sample
            out.append(Onset(int(sample), sample / self.sample_rate, float(v)))
        drop = self._df.size - self._hist
        if drop > 0:
            self._df = self._df[drop:]
            self._ok = self._ok[drop:]
            self._df_first += drop
        return out

    def _level_ok(self, frame_end: int) -> bool:
        """The frame's level is above the floor, and its newer half not much quieter than the older
        (an abrupt stop splatters flux but is no hit).  Only asked of candidate peaks."""
        i = frame_end - self._buf_start
        raw = self._buf[i - self.n_win:i]
        frame = raw * self.window
        ms = np.einsum("i,i->", frame, frame) / self.n_win  # mean square; einsum: no temporaries
        half = self.n_win // 2
        newer = np.einsum("i,i->", raw[half:], raw[half:]) / (self.n_win - half)
        older = np.einsum("i,i->", raw[:half], raw[:half]) / half
        return bool(ms > self.floor_ms and newer >= 0.25 * older)

    def _cut_after(self, frame_end: int) -> bool:
        """True when the hop after the peak frame holds less energy than the hop just before the frame, in
        full and in its first difference (the treble): no new sound arrived (e.g. the splatter of a sound
        cut dead, a NaN gap), so no hit.  A soft hat over a loud decaying kick adds little energy but much
        treble."""
        i = frame_end - self._buf_start
        before = self._buf[i - self.n_win - 2 * self.hop: i - self.n_win - self.hop]
        nxt = self._buf[i: i + self.hop]
        rise = self.params.energy_rise
        if float(np.dot(nxt, nxt)) >= rise * float(np.dot(before, before)):
            return False
        d_nxt, d_before = np.diff(nxt), np.diff(before)
        return float(np.dot(d_nxt, d_nxt)) < self.params.treble_rise * float(np.dot(d_before, d_before))

    def _backtrack(self, frame_end: int, not_before: int = 0, min_rise_db: float | None = None) -> int | None:
        """Attack start (absolute sample) within the peak frame and lookback_s before it, not before
        `not_before`; None when the level rises less than `min_rise_db` (default: params.min_rise_db)."""
        back = min(self.n_win + self.lookback, self.max_back)
        start = max(frame_end - back, not_before, 0)
        start -= (start - frame_end) % self.env_len  # sub-blocks aligned to frame_end
        if start >= frame_end:
            return None
        seg = np.abs(self._buf[start - self._buf_start: frame_end - self._buf_start])
        env = seg.reshape(-1, self.env_len).max(axis=1)
        env_db = 20 * np.log10(env + 1e-9)
        floor_db = np.minimum.accumulate(env_db)
        rise = env_db - floor_db
        j = int(np.argmax(rise))
        if rise[j] < (self.params.min_rise_db if min_rise_db is None else min_rise_db):
            return None
        top = env_db[j]
        thr = max(floor_db[j] + self.params.rise_fraction * rise[j], top - self.params.attack_db)
        below = np.flatnonzero(env_db[: j + 1] < thr)
        i = int(below[-1]) + 1 if below.size else 0
        i = min(i, j)
        sub = seg[i * self.env_len: (i + 1) * self.env_len]
        first = int(np.argmax(sub >= 10 ** (thr / 20)))
        return start + i * self.env_len + first


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


def detect(samples: np.ndarray, sample_rate: int, block_size: int = 256,
           params: OnsetParams = OnsetParams()) -> np.ndarray:
    """Onset times (s) of mono `samples`, fed through OnsetDetector in blocks of `block_size` samples."""
    if block_size < 1:
        raise ValueError(f"block_size {block_size}: must be >= 1")
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    det = OnsetDetector(sample_rate, params)
    found: list[Onset] = []
    for i in range(0, x.size, block_size):
        found.extend(det.process(x[i: i + block_size]))
    found.extend(det.flush())
    return np.array([o.time for o in found], dtype=np.float64)
