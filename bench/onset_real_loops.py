"""Our onset detector and aubio's on real recorded drum loops, without ground truth: counts and agreement.

    .venv/bin/python bench/onset_real_loops.py [--plot loop_breakbeat --span 0 1.9] [--out FILE.md]

The loops are Sonic Pi's recorded drum and percussion loops (Debian package
`sonic-pi-samples`, /usr/share/sonic-pi/samples/loop_*.flac: the Amen break,
breakbeats, hand percussion, tabla).  Nobody has marked their onsets, so this
is no F-measure: it counts what each detector finds and how many of ours
aubio also finds within +-25 ms (and the other way round), which points at
the places to look.  `--plot NAME` draws that loop's waveform and first
difference with both detectors' onsets (PNG beside --out, or in the current folder).
Our detector runs as `drumtimbre onsets` does (256-sample blocks); aubio as in
bench/onset_eval.py (buf 512, hop 256, minioi 30 ms), threshold 0.05.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import aubio_onsets  # noqa: E402
from realtime.onsets import detect  # noqa: E402
from report import emit  # noqa: E402

SAMPLES = Path("/usr/share/sonic-pi/samples")
LOOPS = ("loop_amen", "loop_amen_full", "loop_breakbeat", "loop_compus", "loop_garzul", "loop_mika",
         "loop_perc1", "loop_perc2", "loop_safari", "loop_tabla")
METHODS = ("mkl", "complex", "hfc")


def found_in(a: np.ndarray, b: np.ndarray, tol: float = 0.025) -> int:
    """How many times of `a` have a time of `b` within tol seconds."""
    if a.size == 0 or b.size == 0:
        return 0
    return int(np.sum(np.min(np.abs(a[:, None] - b[None, :]), axis=1) <= tol))


def plot(name: str, x: np.ndarray, rate: int, ours: np.ndarray, theirs: np.ndarray, span, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(x.size) / rate
    fig, ax = plt.subplots(2, 1, figsize=(14, 6), sharex=True)
    ax[0].plot(t, x, lw=0.4)
    ax[1].plot(t, np.diff(x, prepend=x[:1]), lw=0.4, color="tab:green")
    for a in ax:
        for o in ours:
            a.axvline(o, color="tab:red", lw=1)
        for o in theirs:
            a.axvline(o, color="k", ls="--", lw=1)
    ax[0].set_title(f"{name}: ours (red, {ours.size}) and aubio mkl 0.05 (dashed, {theirs.size}); "
                    "below: first difference (the treble)")
    ax[1].set_xlabel("s")
    if span:
        ax[0].set_xlim(*span)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", metavar="NAME", help="draw this loop (e.g. loop_breakbeat)")
    ap.add_argument("--span", nargs=2, type=float, metavar=("FROM", "TO"), help="time span of the plot, s")
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    args = ap.parse_args(argv)
    present = [n for n in LOOPS if (SAMPLES / f"{n}.flac").is_file()]
    if not present:
        print(f"no loops under {SAMPLES}: install the Debian package sonic-pi-samples", file=sys.stderr)
        return 1
    lines = ["| loop | s | ours | " + " | ".join(f"aubio {m} (of ours found / of its found by ours)" for m in METHODS)
             + " |", "|---" * (3 + len(METHODS)) + "|"]
    for name in present:
        x, rate = sf.read(str(SAMPLES / f"{name}.flac"), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        ours = detect(x, rate, 256)
        cells = []
        theirs = {}
        for m in METHODS:
            theirs[m] = aubio_onsets(x, rate, m, 0.05).times
            cells.append(f"{theirs[m].size} ({found_in(ours, theirs[m])} / {found_in(theirs[m], ours)})")
        lines.append(f"| {name} | {x.size / rate:.1f} | {ours.size} | " + " | ".join(cells) + " |")
        if args.plot == name:
            png = (args.out.parent if args.out else Path(".")) / f"onsets_{name}.png"
            plot(name, x, rate, ours, theirs["mkl"], args.span, png)
            missed = [round(float(t), 3) for t in theirs["mkl"] if found_in(np.array([t]), ours) == 0]
            print(f"{name}: aubio mkl onsets ours lacks: {missed}; plot: {png}", file=sys.stderr)
    emit(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
