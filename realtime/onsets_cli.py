"""`drumtimbre onsets`: the live onset detector over a file -> onset times (s), one per line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="audio file (any rate, any number of channels: mixed to mono)")
    parser.add_argument("-o", "--out", type=Path, help="write onset times here (default: stdout)")
    parser.add_argument("--blocksize", "--block-size", "-b", dest="block_size", type=int, default=128,
                        help="samples per block fed to the detector, as a live callback would (default 128, "
                             "as listen; the onsets do not depend on it)")
    parser.add_argument("--config", "-c", type=Path, default=None,
                        help="listen's TOML config: its [onsets] detector settings apply")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from realtime.config import ConfigError, load_config
    from realtime.listen_cli import onset_params
    from realtime.onsets import OnsetParams, detect

    if args.block_size < 1:
        print(f"error: --blocksize {args.block_size}: must be >= 1", file=sys.stderr)
        return 2
    params = OnsetParams()
    if args.config is not None:
        try:
            params = onset_params(load_config(args.config).get("onsets")) or params
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ValueError as exc:  # an unknown key in [onsets]
            print(f"error: {args.config}: {exc}", file=sys.stderr)
            return 2
    if not args.file.is_file():
        print(f"error: {args.file}: no such file" + (" (a folder)" if args.file.is_dir() else ""), file=sys.stderr)
        return 1
    try:
        data, rate = sf.read(str(args.file), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for missing / corrupt files
        print(f"error: cannot read audio file {args.file}: {exc}", file=sys.stderr)
        return 1
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    times = detect(mono, int(rate), block_size=args.block_size, params=params)
    text = "".join(f"{t:.6f}\n" for t in times)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"{times.size} onsets -> {args.out}", file=sys.stderr)
    return 0
