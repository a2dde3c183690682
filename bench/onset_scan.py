"""Our onset detector under several settings on the same rendered loops: F, precision and recall at +-25 ms.

A quicker companion to bench/onset_eval.py for trying OnsetParams changes: the
loops are rendered once (onset_eval's loops: every installed kit, tuning and
held-out sets, plus each `--kits` folder as a set of its own), then each
variant runs over all of them; no aubio.  The first variant is always the
defaults.

    .venv/bin/python bench/onset_scan.py --vary '{"masking_ratio": 0.0}' '{"masking_s": 0.015}' \\
        --kits data/audio/sonic_pi_kit [--seeds 1] [--out bench/results/onset_scan.md]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from onset_eval import TUNING_KITS, loops, ours, score  # noqa: E402

from realtime.loops import installed_kits  # noqa: E402
from realtime.onsets import OnsetParams  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vary", nargs="+", default=[], metavar="JSON",
                    help="OnsetParams changes, one JSON object per variant, e.g. '{\"masking_ratio\": 0.3}'")
    ap.add_argument("--kits", nargs="+", type=Path, default=[], metavar="DIR", help="more kit folders, a set each")
    ap.add_argument("--seeds", type=int, default=1, help="loops per kit x style (default 1)")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each loop, s (default 6)")
    ap.add_argument("--rate", type=int, default=48000, help="loop sample rate, Hz (default 48000)")
    ap.add_argument("--block", type=int, default=128, help="block size fed to the detector (default 128)")
    ap.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = ap.parse_args(argv)
    variants: list[dict] = [{}]
    for text in args.vary:
        try:
            change = json.loads(text)
            OnsetParams(**change)
        except (ValueError, TypeError) as exc:
            ap.error(f"--vary {text}: {exc}")
        variants.append(change)
    missing = [str(k) for k in args.kits if not k.is_dir()]
    if missing:
        ap.error(f"--kits: no such folder {', '.join(missing)}")
    t0 = time.time()
    kits = installed_kits()
    sets = [("tuning kits", [k for k in kits if k in TUNING_KITS]), ("held-out kits", [k for k in kits if k not in TUNING_KITS])]
    sets += [(k.name, [str(k)]) for k in args.kits]
    cases = [(name, loops(ks, args.seeds, args.seconds, args.rate)) for name, ks in sets if ks]
    lines = ["| settings | " + " | ".join(f"{name}: F (P / R)" for name, _ in cases) + " |",
             "|---|" + "---|" * len(cases)]
    print(lines[0], lines[1], sep="\n", flush=True)
    for change in variants:
        params = OnsetParams(**change)
        cells = []
        for _, cs in cases:
            s = score([(c, ours(c.audio, c.rate, args.block, params)) for c in cs])[25]
            cells.append(f"{s['f']:.4f} ({s['p']:.3f} / {s['r']:.3f})")
        lines.append(f"| {json.dumps(change) if change else 'defaults'} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    command = "python " + " ".join([f"bench/{Path(__file__).name}"] + [f"'{a}'" if a.startswith("{") else a
                                                                        for a in sys.argv[1:]])
    footer = (f"\nCommand: `{command}`; {sum(len(cs) for _, cs in cases)} loops ({args.seeds} seed(s), {args.seconds:g} s, "
              f"{args.rate} Hz, {args.block}-sample blocks), {time.time() - t0:.0f} s wall.")
    print(footer)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n" + footer + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
