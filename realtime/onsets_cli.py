"""`drumtimbre onsets`: the live onset detector over a file -> onset times (s), one per line.

`--truth TIMES.txt` scores them against the user's own marks (realtime.onset_match: F, precision, recall,
the missed and extra times, on stderr); `--plot` draws them (realtime.hit_plot)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="audio file (any rate, any number of channels: mixed to mono)")
    parser.add_argument("-o", "--out", type=Path, help="write onset times here (default, or '-': stdout)")
    parser.add_argument("--blocksize", "--block-size", "-b", dest="block_size", type=int, default=128,
                        help="samples per block fed to the detector, as a live callback would (default 128, "
                             "as listen; the onsets do not depend on it)")
    parser.add_argument("--channels", default=None,
                        help="channel(s) to mix, 1-based, e.g. 1 or 1,2 (default: all; as analyze and listen)")
    parser.add_argument("--config", "-c", type=Path, default=None,
                        help="listen's TOML config: its [onsets] detector settings apply")
    parser.add_argument("--truth", type=Path, default=None, metavar="TIMES.txt",
                        help="true onset times (s, one per line, as -o writes them): report F, precision, recall "
                             "and the missed / extra onsets on stderr")
    parser.add_argument("--tolerance-ms", dest="tolerance_ms", type=float, default=None,
                        help="with --truth: a detection within this many ms of a true onset matches it (default 25)")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="draw the waveform with the detected onsets (and the true ones, with --truth); "
                             ".png, .pdf or .svg, needs matplotlib")


class EmptyAudio(ValueError):
    """A file with no frames."""


def stream_onsets(path, block_size: int, params, channels: tuple[int, ...] | None = None, levels=None) -> tuple:
    """Onset times (s) of an audio file, its channels (0-based `channels`, default all) averaged, read and fed to
    the live detector in blocks of `block_size` samples (memory stays flat for a long file); and the error that
    stopped the reading part way (a corrupt block, or KeyboardInterrupt for Ctrl-C), or None; and the seconds
    of the file read.  `levels` (an InputLevels) is given the channels, their mix and the peak as they stream.
    EmptyAudio / ValueError (a rate the detector cannot take, a channel the file lacks) / soundfile's errors
    when nothing can be read."""
    import math

    import numpy as np
    import soundfile as sf

    from encoder.audio import sf_name

    from realtime.input_notes import InputLevels, mix_down
    from realtime.onsets import OnsetDetector
    from realtime.sources import read_blocks

    levels = InputLevels() if levels is None else levels
    found = []
    failure = None
    read = 0
    with sf.SoundFile(sf_name(path)) as f:
        if f.frames == 0:
            raise EmptyAudio(str(path))
        if channels is not None and max(channels) >= f.channels:
            raise ValueError(f"input channel {max(channels) + 1}: the file has {f.channels} channel(s)")
        det = OnsetDetector(f.samplerate, params)
        try:  # block by block, as listen's file source reads (a corrupt file fails at the same place)
            for data in read_blocks(f, block_size):
                # numpy's overflow warnings would say no more than the run's closing warning: channels far beyond
                # full scale may mix to inf, and NaN/inf or samples near float32's limit are repaired or clipped by
                # the detector
                with np.errstate(over="ignore", invalid="ignore"):
                    mono = mix_down(data, channels, levels)
                    low, high = (float(mono.min()), float(mono.max())) if mono.size else (0.0, 0.0)
                    if math.isfinite(low) and math.isfinite(high):
                        levels.add_span(low, high)
                    else:  # the span of the samples the detector hears: the finite ones (it repairs the rest)
                        finite = mono[np.isfinite(mono)]
                        levels.nonfinite += mono.size - finite.size
                        if finite.size:
                            levels.add_span(float(finite.min()), float(finite.max()))
                    found += det.process(mono)
                read += data.shape[0]
            from realtime.cut_short import wav_cut_short
            short = wav_cut_short(path)  # (libsndfile reads what is there and says nothing)
            if short:
                failure = ValueError(short)
        except (Exception, KeyboardInterrupt) as exc:  # a block that cannot be decoded, Ctrl-C: what came before
            failure = exc                              # it stands
        found += det.flush()
    return np.array([o.time for o in found], dtype=np.float64), failure, read / f.samplerate


def error(text: str, code: int = 1) -> int:
    print(f"drumtimbre onsets: error: {text}", file=sys.stderr, flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    from realtime.config import ConfigError, load_config, onset_params
    from realtime.shutdown import with_cleanups
    from realtime.onsets import OnsetParams

    if args.block_size < 1:
        return error(f"--blocksize {args.block_size}: must be >= 1", 2)
    if args.tolerance_ms is not None and args.truth is None:
        return error(f"--tolerance-ms {args.tolerance_ms:g}: only with --truth (it is the matching window)", 2)
    if args.tolerance_ms is None:
        args.tolerance_ms = 25.0
    if not args.tolerance_ms > 0:
        return error(f"--tolerance-ms {args.tolerance_ms:g}: must be > 0", 2)
    truth = None
    if args.truth is not None:
        from realtime.onset_match import read_times
        try:
            truth = read_times(args.truth)
        except (OSError, ValueError) as exc:
            return error(str(exc), 2)
    if args.plot is not None:  # a bad name or no matplotlib: say so before the work
        from realtime.hit_plot import PlotError, check_can_plot
        try:
            check_can_plot(args.plot)
        except PlotError as exc:
            return error(str(exc), 2)
    channels = None
    if args.channels is not None:
        from realtime.sources import parse_channels
        try:
            channels = parse_channels(args.channels)
        except ValueError as exc:
            return error(f"--channels {args.channels!r}: {exc}", 2)
    params = OnsetParams()
    if args.config is not None:
        try:
            params = onset_params(load_config(args.config).get("onsets")) or params
        except ConfigError as exc:
            return error(str(exc), 2)
        except ValueError as exc:  # an unknown key in [onsets]
            return error(f"{args.config}: {exc}", 2)
    from realtime.sources import audio_file_problem
    problem = audio_file_problem(args.file)
    if problem:
        return error(problem)
    args.file = Path(args.file)
    if args.out is not None and str(args.out) == "-":  # stdout, as analyze's and predict's `-o -`
        args.out = None
    from encoder.out_path import check_outputs
    try:  # before the work, not after it
        check_outputs((args.out, args.plot),
                      (("input file", args.file), ("--truth file", args.truth), ("config file", args.config)))
    except OSError as exc:
        return error(str(exc))
    except ValueError:  # (the only two)
        return error(f"{args.plot}: --plot and -o name the same file", 2)
    return with_cleanups(lambda cleanups: _detect_and_report(args, params, channels, truth, cleanups))


def _detect_and_report(args: argparse.Namespace, params, channels, truth, cleanups: list) -> int:
    """Stream the file through the detector (SIGTERM and Ctrl-C stop it with what was found), then _report."""
    from realtime.input_notes import InputLevels
    from realtime.shutdown import shutdown_guard, sigterm_as_ctrl_c

    cleanups.append(sigterm_as_ctrl_c())  # SIGTERM, like Ctrl-C, writes the onsets found so far
    try:
        levels = InputLevels()
        times, failure, seconds = stream_onsets(args.file, args.block_size, params, channels, levels)
    except KeyboardInterrupt:  # before the first block (opening the file) or in the last frames
        return error(f"{args.file}: interrupted before its onsets were found; nothing written", 130)
    except EmptyAudio:  # as listen and analyze say it
        from realtime.cut_short import empty_audio
        return error(f"{args.file}: {empty_audio(args.file)}")
    except ValueError as exc:  # a rate the detector cannot work at
        return error(f"{args.file}: {exc}")
    except Exception as exc:  # soundfile raises several types for missing / corrupt files
        return error(f"cannot read audio file {args.file}: {exc}")
    if isinstance(failure, KeyboardInterrupt):
        cleanups.append(shutdown_guard(command="onsets"))  # a second Ctrl-C or SIGTERM while writing: exit now
    notes = levels.notes()
    if levels.nonfinite:  # (analyze and listen name them in their summary line)
        from realtime.onsets import HOLD_MAX_S
        notes.append(f"{levels.nonfinite} non-finite samples in the mix (NaN/inf; a run of up to "
                     f"{HOLD_MAX_S * 1000:g} ms bridged, a longer one taken as silence)")
    for note in notes:
        print(f"drumtimbre onsets: warning: {args.file}: {note}", file=sys.stderr)
    return _report(args, times, failure, seconds, truth, channels)


def _report(args: argparse.Namespace, times, failure, seconds: float, truth, channels=None) -> int:
    """Write the onsets; say how it ended; score and plot them when asked."""
    text = "".join(f"{t:.6f}\n" for t in times)
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            args.out.write_text(text)
        except OSError as exc:  # (checked before the run; a full disk shows only now)
            return error(f"cannot write {args.out}: {exc.strerror or exc}")
        print(f"{times.size} onsets -> {args.out}", file=sys.stderr)
    if isinstance(failure, KeyboardInterrupt):
        print(f"drumtimbre onsets: {args.file}: interrupted after {seconds:.1f} s of it: the {times.size} onsets "
              f"found -> {args.out if args.out is not None else 'stdout'}", file=sys.stderr)
        return 130
    if failure is not None:  # the onsets before it are written; then the error (as analyze does)
        return error(f"{args.file}: read failed ({failure}); the {times.size} onsets found before it -> "
                     f"{args.out if args.out is not None else 'stdout'}")
    if truth is not None:
        from realtime.onset_match import score_onsets

        sc = score_onsets(times, truth, args.tolerance_ms / 1000)
        print(f"against {args.truth}: F {sc.f:.3f} (precision {sc.precision:.3f}, recall {sc.recall:.3f}) at "
              f"+-{args.tolerance_ms:g} ms: {sc.matched} of {truth.size} true onsets found, {sc.extra.size} extra",
              file=sys.stderr)
        for label, values in (("missed", sc.missed), ("extra", sc.extra)):
            if values.size:
                print(f"  {label} at: " + " ".join(f"{t:.3f}" for t in values), file=sys.stderr)
    if args.plot is not None:
        from realtime.hit_plot import PlotError, file_envelope, plot_onsets
        try:
            plot_onsets(file_envelope(args.file, channels), times, args.plot, truth,
                        title=f"{args.file.name}: {times.size} onsets" + ("" if truth is None else
                                                                          f", {truth.size} true"))
        except PlotError as exc:
            return error(str(exc))
        print(f"plot -> {args.plot}", file=sys.stderr)
    return 0

