"""`drumtimbre listen`: live input (or a file) -> per-hit timbre over OSC.

Top-level imports stay light: the model runtime, PortAudio and rich load in `run`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from realtime.shutdown import shutdown_guard, sigterm_as_ctrl_c, with_cleanups


GIL_SWITCH_S = 0.0005
"""Python's thread switch interval while listening to a device, s (see run)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (a device by default; --input for a file)")
    src.add_argument("--device", "-d", default=None,
                     help="input device: index or (part of) its name, see `drumtimbre devices` (default: system default)")
    src.add_argument("--host-api", dest="host_api", default=None,
                     help="host API the device belongs to (part of its name, e.g. JACK, ALSA, CoreAudio, WASAPI)")
    src.add_argument("--channels", default=None,
                     help="input channel(s) to mix to mono, 1-based, e.g. 1 or 1,2 (default: 1 for a device, all for a file)")
    src.add_argument("--samplerate", "-r", type=int, default=None, help="device sample rate, Hz (default: the device's)")
    src.add_argument("--blocksize", "-b", type=int, default=None, help="block size, frames (default 128)")
    src.add_argument("--input", "-i", default=None, metavar="FILE",
                     help="stream an audio file instead of a device (as fast as possible; ends with the file)")
    src.add_argument("--realtime", action="store_const", const=True, default=None,
                     help="with --input: stream the file at real-time pace")
    ana = p.add_argument_group("analysis")
    ana.add_argument("--model", "-m", default=None, help="ONNX model with a drumtimbre contract (default: the shipped model)")
    ana.add_argument("--window", type=float, default=None, help="per-hit window, seconds, <= 1 (default 1.0)")
    ana.add_argument("--early-ms", dest="early_ms", type=float, default=None,
                     help="early estimate after this many ms of the hit (default 25; under about 20 ms, rougher)")
    ana.add_argument("--preroll-ms", dest="preroll_ms", type=float, default=None,
                     help="audio kept before each onset, ms (default 3)")
    ana.add_argument("--detect-rate", dest="detect_rate", choices=["input", "16000"], default=None,
                     help="run onset detection at the input rate or at 16000 Hz (default input)")
    ana.add_argument("--early-from", dest="early_from", choices=["input", "stream"], default=None,
                     help="cut the early window from the input-rate audio and resample it alone ('input', default: "
                          "no wait for the streaming resampler) or from the 16 kHz stream ('stream')")
    ana.add_argument("--ring-subtraction", dest="ring_subtraction", action=argparse.BooleanOptionalAction,
                     default=None, help="take the ring of earlier hits (measured just before each window) out of the early and final windows "
                          "(an early window with under 10 ms of audio is left as it sounds) (default on; "
                          "--no-ring-subtraction: the window as it sounds)")
    ana.add_argument("--group-ms", dest="group_ms", default=None, metavar="MS|auto",
                     help="the worker takes the input blocks in groups of up to this many ms (fewer wake-ups, "
                          "less CPU; it never waits past the block that completes a hit's window); 'auto' "
                          "(default): as much as still detects every hit before its early window closes, at "
                          "most 12 ms (at 48 kHz in 128-frame blocks, none with --early-ms under about 17; none "
                          "with --detect-rate 16000), and while the input is quiet (no rise) up to 32 ms (16 ms "
                          "without groups; at real-time pace, detecting at the input rate); 0: every block at once")
    out = p.add_argument_group("output")
    out.add_argument("--osc", action="append", default=None, metavar="HOST:PORT",
                     help="OSC destination, repeatable (default 127.0.0.1:9000)")
    out.add_argument("--prefix", default=None, help="OSC address prefix (default /drumtimbre)")
    out.add_argument("--scale", choices=["unit", "audiocommons"], default=None,
                     help="descriptor values 0-1 ('unit', default) or AudioCommons points 0-100")
    out.add_argument("--timetag", choices=["immediate", "onset"], default=None,
                     help="bundle timetag: immediate (default) or the onset's wall-clock time")
    out.add_argument("--no-display", dest="display", action="store_const", const=False, default=None,
                     help="no live terminal display (it is off anyway when stdout is not a terminal)")
    out.add_argument("--stats", default=None, metavar="FILE.json",
                     help="write counters and per-hit latencies (ms) to this JSON file at exit")
    p.add_argument("--config", "-c", default=None, metavar="FILE.toml",
                   help="TOML file setting any of these options (the command line overrides it)")


def error(text: str, code: int = 1) -> int:
    print(f"drumtimbre listen: error: {text}", file=sys.stderr, flush=True)
    return code


def open_model(path: str | None):
    """Load the ONNX model (threads=1); raises ValueError/FileNotFoundError with a clear message."""
    from realtime.runtime import load_model

    return load_model(path, threads=1)


def model_message(path: str | None, exc: Exception) -> str:
    """A model error that always names the model file."""
    text = str(exc)
    if path and Path(path).name not in text:
        text = f"{path}: {text}"
    return f"model: {text}"


def open_source(settings: dict):
    """FileSource for --input, DeviceSource otherwise."""
    from realtime.sources import DeviceSource, FileSource, parse_channels

    block = int(settings["blocksize"])
    if settings["input"]:
        chans = None if settings["channels"] is None else parse_channels(settings["channels"])
        return FileSource(settings["input"], block_size=block, realtime=bool(settings["realtime"]), channels=chans)
    return DeviceSource(settings["device"], settings["host_api"], parse_channels(settings["channels"]),
                        settings["samplerate"], block)


def run(args: argparse.Namespace) -> int:
    return with_cleanups(lambda cleanups: _run(args, cleanups))


def _run(args: argparse.Namespace, cleanups: list) -> int:
    from realtime.config import (LISTEN_OPTIONS, ConfigError, build_engine_config, check_command_line,
                                 check_windows, load_config, merge)

    try:
        config = load_config(args.config) if args.config else {}
    except ConfigError as exc:
        return error(str(exc), 2)
    try:
        check_command_line(args, LISTEN_OPTIONS)  # (the file's values were checked as it was read)
    except ValueError as exc:
        return error(str(exc), 2)
    if args.input is not None and (args.device is not None or args.host_api is not None):
        return error("give either --device/--host-api or --input, not both", 2)
    if args.input is not None and args.samplerate is not None:
        return error("--samplerate applies to a device (a file streams at its own rate)", 2)
    if args.input is None and (args.device is not None or args.host_api is not None):
        config = {k: v for k, v in config.items() if k not in ("input", "realtime")}  # the command line's device
    elif args.input is None and config.get("input") is not None and (
            config.get("device") is not None or config.get("host_api") is not None):
        return error(f"{args.config}: sets both input and device/host_api; keep one (--input or --device on the "
                     "command line overrides the file)", 2)
    settings = merge(args, config)
    try:
        check_windows(settings, args, config, args.config)
    except ValueError as exc:
        return error(str(exc), 2)
    if settings["realtime"] and not settings["input"]:
        return error("--realtime applies to --input FILE only", 2)
    if settings["stats"]:  # proved writable before the run, not after it
        from encoder.out_path import check_writable
        from realtime.runtime import default_model_path
        try:
            check_writable(settings["stats"], (("input file", settings["input"]), ("config file", args.config),
                                               ("model file", settings.get("model") or default_model_path())))
        except OSError as exc:
            return error(str(exc))

    from realtime.engine import MIN_INPUT_RATE, Engine, Runner
    from realtime.osc_out import OscOut
    from realtime.sources import SourceError, parse_channels

    try:
        engine_config = build_engine_config(settings)
        osc = OscOut(settings["osc"] or ["127.0.0.1:9000"], settings["prefix"], settings["scale"], settings["timetag"])
        if settings["channels"] is not None:
            parse_channels(settings["channels"])  # a malformed list is a bad option (2), found before the model
    except ValueError as exc:
        return error(str(exc), 2)
    try:
        model = open_model(settings["model"])
    except (ValueError, OSError, RuntimeError) as exc:  # ModelError is a ValueError
        return error(model_message(settings["model"], exc))
    try:
        source = open_source(settings)
    except (SourceError, ValueError) as exc:
        return error(str(exc))

    from realtime.display import LiveDisplay, display_wanted

    callbacks = [osc]
    display = None
    if source.sample_rate < MIN_INPUT_RATE:  # the input, not an option: exit 1
        return error(f"{source.describe()}: sample rate {source.sample_rate} Hz: need at least {MIN_INPUT_RATE} Hz")
    try:
        engine = Engine(model, source.sample_rate, engine_config, callbacks, mix=source.mix)
    except (ValueError, ImportError) as exc:
        return error(str(exc), 2)
    if display_wanted(settings["display"]):
        display = LiveDisplay(engine.stats, source.describe(), settings["scale"],
                              extra=lambda: f"OSC sent {osc.sent}   OSC errors {osc.errors}")
        engine.callbacks.append(display)
    else:
        print(f"drumtimbre listen: {source.describe()} -> OSC {', '.join(map(str, osc.destinations))} "
              f"{osc.prefix}", file=sys.stderr, flush=True)

    cleanups.append(sigterm_as_ctrl_c())

    if source.kind == "device":
        # PortAudio's callback needs Python's GIL for every block.  A thread holding it (the display redrawing,
        # a few ms) is asked to let go only after the switch interval, 5 ms by default: longer than a
        # 128-frame block (2.7 ms), so the callback came late, the audio server flagged an xrun, and the lost
        # block's click could be taken for a hit.  At 0.5 ms the callback waits less than a block (through
        # JACK: 4-10 xruns in 27 s with the display on, 240 at 5 ms; no change in CPU).
        sys.setswitchinterval(GIL_SWITCH_S)
    runner = Runner(engine, source)
    code = 0
    interrupted = False
    t0 = time.perf_counter()
    try:
        if display is not None:
            display.__enter__()
        try:
            runner.start()
        except SourceError as exc:
            return error(str(exc))
        reported = (0, 0)
        last_report = 0.0
        while not runner.wait(0.1):
            now = (engine.stats.xruns, engine.stats.overflows)
            if display is None and now != reported and time.perf_counter() - last_report > 1.0:
                print(f"drumtimbre listen: warning: {now[0]} xrun(s), {now[1]} overflow(s) "
                      f"({engine.stats.dropped_frames} frames dropped) so far", file=sys.stderr, flush=True)
                reported, last_report = now, time.perf_counter()
    except KeyboardInterrupt:
        interrupted = True
        cleanups.append(shutdown_guard())
    finally:
        runner.stop()
        if display is not None:
            display.__exit__(None, None, None)
        osc.close()
    wall = time.perf_counter() - t0
    if runner.error is not None:
        code = error(str(runner.error))
    elif engine.callback_error is not None:
        print(f"drumtimbre listen: warning: an output failed {engine.stats.callback_errors} time(s): "
              f"{engine.callback_error}", file=sys.stderr)
    summary = engine.stats.summary()
    s = engine.stats
    state = 'failed' if runner.error is not None else ('stopped' if interrupted else 'done')
    print(f"drumtimbre listen: {state}: {s.hits} hits, {s.early} early + {s.final} "
          f"final estimates sent, {s.skipped} skipped, xruns {s.xruns}, overflows {s.overflows}, "
          f"OSC errors {osc.errors}, {wall:.1f} s{s.input_notes()}", file=sys.stderr, flush=True)
    if settings["stats"]:
        def ms(seconds: float):
            return round(seconds * 1e3, 4) if seconds == seconds else None  # NaN (never sent) -> null

        timings = [{"hit": t.hit_id, "onset_s": t.onset_s,
                    "early_ms": ms(t.t_early_sent - t.t_onset_block),
                    "early_processing_ms": ms(t.t_early_sent - t.t_early_ready),
                    "final_ms": ms(t.t_final_sent - t.t_onset_block),
                    "final_processing_ms": ms(t.t_final_sent - t.t_final_ready)} for t in s.timings]
        out = {"source": source.describe(), "wall_s": wall, "osc_sent": osc.sent, "osc_errors": osc.errors,
               "group_frames": runner.group, "hold_frames": runner.hold.hold_frames, "summary": summary,
               "xrun_s": [round(f / source.sample_rate, 4) for f in runner.ring.xrun_frames], "hits": timings}
        try:
            Path(settings["stats"]).write_text(json.dumps(out, indent=1) + "\n")
        except OSError as exc:
            code = code or error(f"cannot write {settings['stats']}: {exc.strerror or exc}")
    if getattr(source, "hung", False):
        # the audio server died under the stream: PortAudio's own exit handler would hang
        print("drumtimbre listen: the audio device could not be closed; exiting without PortAudio clean-up",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(code or 1)
    return code
