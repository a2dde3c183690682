"""Onsets on drum parts written by people: the Hydrogen demo songs, our detector against aubio in the same run.

bench/onset_eval.py's loops follow generated patterns.  Here the patterns are
the demo songs of hydrogen-data (their authors' velocities, swing and
humanisation), rendered by realtime/songs.py with exact truth, and scored the
same way (run_set: ours at the input rate and at 16 kHz, aubio's online
detectors at every method and threshold, F per song and per kit):

  - "own kits": each song with the kit it was written for (GMRockKit and
    TR808EmulationKit are tuning kits of onset_eval; ColomboAcousticDrumkit is
    held out);
  - "held-out kits": each song with every held-out kit of onset_eval, its
    instruments mapped by drum role;
  - "other kits" (--kits DIR ...): the same with these kit folders.

    .venv/bin/python bench/onset_songs.py --out bench/results/onsets_songs.md
    .venv/bin/python bench/onset_songs.py --seeds 2 --max-seconds 30 --kits data/audio/exadrums_kit
    .venv/bin/python bench/onset_songs.py --songs ~/.hydrogen/data/songs/mine.h2song --sets own
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from onset_eval import AUBIO_THRESHOLDS, TUNING_KITS, Case, parse_params, set_lines  # noqa: E402
from report import emit  # noqa: E402
from realtime.loops import installed_kits  # noqa: E402
from realtime.onset_trees import trees_source  # noqa: E402
from realtime.songs import Song, demo_songs, read_song, render_song, song_path  # noqa: E402


def song_cases(songs: dict[Path, Song], kits: list[str | None], seeds: int, rate: int, max_seconds: float | None
               ) -> list[Case]:
    """One case per song (file -> parsed) x kit x seed; kit None is the song's own kit.  Named kit/song/bpm/seed."""
    out = []
    for path, song in songs.items():
        for kit in kits:
            for seed in range(seeds):
                try:
                    loop = render_song(song, rate, seed, kit, max_seconds)
                except ValueError as exc:  # e.g. a part that starts after the cut
                    print(f"left out: {exc}", file=sys.stderr)
                    break
                name = Path(kit).name if kit else f"own ({Path(loop.hits[0].file).parent.name})"
                out.append(Case(f"{name}/{path.stem}/{song.bpm:g}/{seed}", loop.audio, rate, loop.onsets, loop.hits))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1, help="renders per song x kit, each humanised anew (default 1)")
    ap.add_argument("--max-seconds", type=float, default=40.0,
                    help="cut the songs played on other kits to this many seconds (default 40; the own-kit "
                         "renders are whole, but with --lmms, whose projects run for minutes)")
    ap.add_argument("--rate", type=int, default=48000, help="sample rate, Hz")
    ap.add_argument("--block", type=int, default=256, help="block size fed to our detector")
    ap.add_argument("--no-aubio", action="store_true")
    ap.add_argument("--kits", nargs="+", type=Path, default=[], metavar="DIR",
                    help="also every song on these kit folders, scored as 'other kits'")
    ap.add_argument("--sets", nargs="+", choices=("own", "held-out", "other"), default=["own", "held-out", "other"])
    ap.add_argument("--songs", nargs="+", default=None, metavar="SONG",
                    help="these songs (installed demo song names or .h2song files) instead of every demo song")
    ap.add_argument("--lmms", action="store_true",
                    help="the drum parts of the installed LMMS demo projects (realtime.lmms_projects) instead of the "
                         "Hydrogen demo songs")
    ap.add_argument("--params", default=None, metavar="JSON", help="OnsetParams fields to change, as in onset_eval")
    ap.add_argument("--out", type=Path, help="write the markdown section here")
    args = ap.parse_args(argv)
    changes, params = parse_params(ap, args.params)
    paths = [song_path(name) for name in args.songs] if args.songs else demo_songs(args.lmms)
    if not paths:
        ap.error("no demo songs installed (apt-get install hydrogen-data, or lmms-common for --lmms); or give "
                 "--songs FILE ...")
    try:
        songs = {path: read_song(path) for path in paths}
    except ValueError as exc:
        ap.error(f"--songs: {exc}")
    missing = [str(k) for k in args.kits if not k.is_dir()]
    if missing:
        ap.error(f"--kits: no such folder {', '.join(missing)}")
    t0 = time.time()
    held = [k for k in installed_kits() if k not in TUNING_KITS]
    sets = []
    if "own" in args.sets:
        sets.append(("own kits", song_cases(songs, [None], args.seeds, args.rate,
                                            args.max_seconds if args.lmms else None)))
    if "held-out" in args.sets and held:
        sets.append((f"held-out kits ({', '.join(held)})",
                     song_cases(songs, held, args.seeds, args.rate, args.max_seconds)))
    if "other" in args.sets and args.kits:
        sets.append((f"other kits ({', '.join(k.name for k in args.kits)})",
                     song_cases(songs, [str(k) for k in args.kits], args.seeds, args.rate, args.max_seconds)))
    lines = []
    for name, cases in sets:
        lines += set_lines(name, cases, not args.no_aubio, args.block, params, unit="renders", style="song")
    head = [f"Command: `{' '.join(['.venv/bin/python', 'bench/onset_songs.py'] + (argv if argv is not None else sys.argv[1:]))}`",
            f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - t0:.0f} s wall.",
            f"Songs: {', '.join(p.name for p in songs)}.",
            f"Our detector: OnsetParams({', '.join(f'{k}={v!r}' for k, v in changes.items()) or 'defaults'}), "
            f"fed {args.block}-sample blocks at {args.rate} Hz, with {trees_source(params.trees)}. "
            f"aubio: buf 512, hop 256, minioi 30 ms, thresholds {AUBIO_THRESHOLDS}, best per method shown."]
    emit(head + lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
