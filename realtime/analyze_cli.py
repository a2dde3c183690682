"""`drumtimbre analyze`: per-hit table of a recording through the live engine -> CSV.

Columns: hit,onset_s,peak_dbfs,hardness,depth,brightness,roughness,warmth,sharpness,boominess
(one row per hit's final estimate; descriptors in AudioCommons points 0-100 by
default, `--scale unit` for the model's normalised 0-1).  The file streams
through the same engine as `listen --input FILE` (fast), so the table holds
exactly what listen would send.  A hit whose window is silent has no row.
`--plot FILE.png` (or .pdf, .svg) also draws the recording with its hits and each
descriptor per hit (realtime.hit_plot; needs matplotlib).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

COLUMNS = ("hit", "onset_s", "peak_dbfs", "hardness", "depth", "brightness", "roughness", "warmth",
           "sharpness", "boominess")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="audio file (any format soundfile decodes)")
    p.add_argument("-o", "--output", default="-", help="CSV file to write (default: stdout)")
    p.add_argument("--model", "-m", default=None, help="ONNX model (default: the shipped model)")
    p.add_argument("--scale", choices=["audiocommons", "unit"], default="audiocommons",
                   help="descriptor values: AudioCommons points 0-100 (default) or normalised 0-1 ('unit')")
    p.add_argument("--window", type=float, default=None, help="per-hit window, seconds, <= 1 (default 1.0)")
    p.add_argument("--preroll-ms", dest="preroll_ms", type=float, default=None, help="audio before each onset, ms (default 3)")
    p.add_argument("--detect-rate", dest="detect_rate", choices=["input", "16000"], default=None,
                   help="onset detection at the input rate or at 16000 Hz (default input)")
    p.add_argument("--ring-subtraction", dest="ring_subtraction", action=argparse.BooleanOptionalAction,
                   default=None, help="take the ring of earlier hits (measured just before each hit's window) out of the window "
                        "(default on; --no-ring-subtraction: the window as it sounds)")
    p.add_argument("--channels", default=None, help="channel(s) to mix, 1-based, e.g. 1 or 1,2 (default: all)")
    p.add_argument("--blocksize", "-b", type=int, default=None, help="block size, frames (default 128)")
    p.add_argument("--config", "-c", default=None, metavar="FILE.toml",
                   help="listen's TOML config (its window, pre-roll, detection and [onsets] settings apply)")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="also draw the waveform with its hits and each descriptor per hit (.png, .pdf or .svg; "
                        "needs matplotlib)")


CONFIG_KEYS = ("model", "window", "preroll_ms", "detect_rate", "early_from", "ring_subtraction", "onsets")
"""What analyze takes from listen's config file."""


def error(text: str, code: int = 1) -> int:
    print(f"drumtimbre analyze: error: {text}", file=sys.stderr, flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    from realtime.shutdown import with_cleanups

    return with_cleanups(lambda cleanups: _run(args, cleanups))


def _run(args: argparse.Namespace, cleanups: list) -> int:
    from realtime.config import (ConfigError, build_engine_config, check_command_line, check_windows, load_config,
                                 merge)
    from realtime.engine import MIN_INPUT_RATE, Engine, Runner
    from realtime.listen_cli import model_message, open_model
    from realtime.osc_out import scale_values
    from realtime.shutdown import shutdown_guard, sigterm_as_ctrl_c
    from realtime.sources import FileSource, SourceError, parse_channels

    try:
        config = load_config(args.config) if args.config else {}
    except ConfigError as exc:
        return error(str(exc), 2)
    if args.plot is not None:  # a bad plot name or no matplotlib: say so before the run, not after it
        from realtime.hit_plot import PlotError, check_can_plot
        try:
            check_can_plot(args.plot)
        except PlotError as exc:
            return error(str(exc), 2)
    from encoder.out_path import check_outputs
    from realtime.runtime import default_model_path
    inputs = (("input file", args.file), ("config file", args.config),
              ("model file", args.model or config.get("model") or default_model_path()))
    try:  # the outputs' folders made, and the files proved writable, before the run
        check_outputs((args.output, args.plot), inputs)
    except OSError as exc:
        return error(str(exc))
    except ValueError:  # (the only two)
        return error(f"{args.plot}: --plot and -o name the same file", 2)
    args.input = args.file
    # from listen's config file only what shapes the analysis (its device, channels, blocks and outputs are
    # listen's business: a device config's channels = [1] would silence a file's other channels)
    config = {k: v for k, v in config.items() if k in CONFIG_KEYS}
    try:
        check_command_line(args, ("model", "window", "preroll_ms", "detect_rate", "channels", "blocksize"))
    except ValueError as exc:
        return error(str(exc), 2)
    settings = merge(args, config)
    settings["model"] = args.model if args.model is not None else config.get("model")
    # analyze writes no early estimate: a window shorter than listen's early one is no error here
    settings["early_ms"] = min(float(settings["early_ms"]), 1e3 * float(settings["window"]))
    try:
        check_windows(settings, args, config, args.config)
        engine_config = build_engine_config(settings)
        chans = None if settings["channels"] is None else parse_channels(settings["channels"])
    except ValueError as exc:
        return error(str(exc), 2)
    try:
        source = FileSource(args.file, block_size=int(settings["blocksize"]), realtime=False, channels=chans)
    except (SourceError, ValueError) as exc:
        return error(str(exc))
    try:
        model = open_model(settings["model"])
    except (ValueError, OSError, RuntimeError) as exc:  # ModelError is a ValueError
        return error(model_message(settings["model"], exc))
    from realtime.hit_plot import HitRow

    hits: dict[int, HitRow] = {}  # the table: each hit's final estimate, in the chosen scale

    def collect(est) -> None:
        if est.kind == "final":
            hits[est.hit_id] = HitRow(est.hit_id, est.onset_s, est.peak_dbfs,
                                      tuple(float(v) for v in scale_values(est.values, args.scale)))

    if source.sample_rate < MIN_INPUT_RATE:  # the input, not an option: exit 1
        return error(f"{args.file}: sample rate {source.sample_rate} Hz: need at least {MIN_INPUT_RATE} Hz")
    try:
        engine = Engine(model, source.sample_rate, engine_config, [collect], mix=source.mix)
    except ValueError as exc:  # a window, pre-roll or early setting out of range
        return error(str(exc), 2)
    cleanups.append(sigterm_as_ctrl_c())
    runner = Runner(engine, source).start()
    interrupted = False
    try:
        runner.wait()
    except KeyboardInterrupt:  # Ctrl-C: the rows found so far are still written (exit 130) ...
        interrupted = True
        cleanups.append(shutdown_guard(command="analyze"))  # ... unless a second one asks to leave at once
    finally:
        runner.stop()
    # a file that fails part way (a corrupt or cut block): the hits finished before it are still written,
    # then the error is reported (exit 1)
    if runner.error is not None and not hits:
        return error(str(runner.error))
    if engine.callback_error is not None:
        return error(f"internal: {engine.callback_error}")
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc}")
    try:
        try:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(COLUMNS)
            for h in (hits[k] for k in sorted(hits)):
                w.writerow([h.hit, f"{h.onset_s:.4f}", f"{h.peak_dbfs:.2f}", *(f"{v:.4f}" for v in h.values)])
        finally:
            if out is not sys.stdout:
                out.close()
    except OSError as exc:  # a full disk shows only now
        return error(f"cannot write {args.output}: {exc.strerror or exc}")
    where = args.output if args.output != '-' else 'stdout'
    if runner.error is not None:
        return error(f"{runner.error}; the {len(hits)} hits finished before it -> {where}")
    if interrupted:
        note = " (the last one's window ends there)" if engine.finished else ""
        print(f"drumtimbre analyze: {args.file}: interrupted after {engine.stats.frames / source.sample_rate:.1f} s "
              f"of it: {len(hits)} hit{'' if len(hits) == 1 else 's'}{note} -> {where}", file=sys.stderr)
        return 130
    print(f"drumtimbre analyze: {args.file}: {len(hits)} hits ({engine.stats.hits} detected, "
          f"{engine.stats.skipped} windows skipped) -> {where}{engine.stats.input_notes()}", file=sys.stderr)
    if args.plot is not None:
        from realtime.hit_plot import PlotError, file_envelope, plot_hits
        try:
            plot_hits(file_envelope(args.file, source.mix), [hits[k] for k in sorted(hits)], args.plot, args.scale,
                      title=f"{Path(args.file).name}: {len(hits)} hits")
        except PlotError as exc:
            return error(str(exc))
        print(f"drumtimbre analyze: plot -> {args.plot}", file=sys.stderr)
    return 0
