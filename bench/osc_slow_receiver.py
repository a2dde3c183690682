"""How many bundles a slow OSC receiver gets from `listen --input` streaming a file as fast as possible.

Renders a drum loop (realtime.loops, `--kit`, `--seconds`; or, with `--song`, a Hydrogen demo song,
realtime.songs), then for each
`--delays-ms` value runs `drumtimbre listen --input LOOP --no-display` into a
python-osc receiver whose handler sleeps that long per message, and counts the
final `/drumtimbre/timbre` messages that arrive against the hits listen says it
sent.  UDP has no flow control: what overflows the receiver's socket buffer is
dropped by the operating system.

    .venv/bin/python bench/osc_slow_receiver.py [--delays-ms 0 0.5 1 2] [--realtime]
    .venv/bin/python bench/osc_slow_receiver.py --song tutorial_georgyporgy --seconds 60 --delays-ms 0
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.loops import render_loop, write_loop  # noqa: E402
from realtime.songs import demo_songs, read_song, render_song, song_path  # noqa: E402
from tests.jack_harness import DRUMTIMBRE  # noqa: E402


def run(loop: Path, delay_s: float, extra: list[str]) -> tuple[int, str, float]:
    """(final /timbre messages received, listen's last stderr line, listen's wall time s)."""
    from pythonosc import dispatcher, osc_server

    got = {"timbre": 0, "all": 0}

    def handler(address, *args):
        got["all"] += 1
        if address == "/drumtimbre/timbre":
            got["timbre"] += 1
        if delay_s:
            time.sleep(delay_s)

    d = dispatcher.Dispatcher()
    d.set_default_handler(handler)
    server = osc_server.BlockingOSCUDPServer(("127.0.0.1", 0), d)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    t0 = time.perf_counter()
    p = subprocess.run(DRUMTIMBRE + ["listen", "--input", str(loop), "--no-display",
                        "--osc", f"127.0.0.1:{server.server_address[1]}", *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    last = -1
    while got["all"] != last:  # until the receiver has drained its socket
        last = got["all"]
        time.sleep(1.0)
    server.shutdown()
    server.server_close()
    lines = p.stderr.strip().splitlines()
    return got["timbre"], lines[-1] if lines else f"exit {p.returncode}", wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", default=None,
                    help="realtime.loops kit (default ColomboAcousticDrumkit; a song's own kit with --song)")
    ap.add_argument("--song", default=None,
                    help="play this Hydrogen demo song (a name of demo_songs(), without .h2song, or a path) "
                         "instead of a mixed loop, cut to --seconds")
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--rate", type=int, default=44100)
    ap.add_argument("--delays-ms", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    ap.add_argument("--realtime", action="store_true", help="also pass --realtime to listen")
    args = ap.parse_args(argv)
    extra = ["--realtime"] if args.realtime else []
    with tempfile.TemporaryDirectory() as tmp:
        if args.song:
            path = song_path(args.song)
            try:
                song = read_song(path)
                loop = render_song(song, args.rate, 0, args.kit, max_seconds=args.seconds)
            except ValueError as exc:
                ap.error(f"--song {args.song}: {exc} (installed: {', '.join(p.stem for p in demo_songs()) or 'none'})")
            what = f"song {path.stem} on {args.kit or 'its own kit'}, {song.bpm:g} bpm"
        else:
            kit = args.kit or "ColomboAcousticDrumkit"
            loop = render_loop("mixed", args.bpm, args.seconds, args.rate, seed=0, kit=kit)
            what = f"{kit}, mixed, {args.bpm:g} bpm"
        wav, _ = write_loop(loop, Path(tmp) / "loop.wav")
        print(f"loop: {what}, {loop.audio.size / args.rate:g} s at {args.rate} Hz, "
              f"{loop.onsets.size} true onsets; listen --input {' '.join(extra)}")
        print("| handler sleep per message (ms) | final /timbre received | listen's summary | listen's wall time (s) |")
        print("|---|---|---|---|")
        for ms in args.delays_ms:
            n, summary, wall = run(wav, ms / 1000, extra)
            print(f"| {ms:g} | {n} | {summary.removeprefix('drumtimbre listen: ')} | {wall:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
