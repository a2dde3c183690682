"""`drumtimbre predict PATH... -o out.csv`: the seven descriptors of audio files, in AudioCommons points.

An .onnx model runs through ONNX Runtime (TensorFlow is never imported); a
.keras model runs through Keras.  The CSV has exactly the columns
path,hardness,depth,brightness,roughness,warmth,sharpness,boominess, one row per
file; a file that cannot be read keeps its row with the descriptors left empty,
its reason goes to stderr, and the run goes on.  Exit status 0 when every file
was predicted, 1 when some were not (or nothing could run).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from encoder.descriptors import DESCRIPTORS

COLUMNS = ("path", *DESCRIPTORS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)")
    p.add_argument("--model", "-m", default=None,
                   help="an .onnx model (or a .keras model, needs TensorFlow); default: $DRUMTIMBRE_MODEL "
                        "or models/default.onnx")
    p.add_argument("-o", "--output", default="-", help="CSV file to write ('-' = stdout, the default)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per inference batch (default 64)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


class KerasModel:
    """A .keras model behind the same `predict` / `predict_points` interface as realtime.runtime.OnnxModel."""

    def __init__(self, path: Path):
        from export.keras_to_onnx import check_keras_io, load_keras_model

        self.path = path
        self.model = load_keras_model(path)
        check_keras_io(self.model, str(path))

    def predict(self, batch):
        import numpy as np

        x = np.asarray(batch, dtype=np.float32).reshape(len(batch), -1, 1)
        return np.asarray(self.model(x, training=False), dtype=np.float32)

    def predict_points(self, batch):
        from encoder.descriptors import clip_points, denormalise

        return clip_points(denormalise(self.predict(batch)))


def open_model(path: str | None, threads: int | None):
    """An OnnxModel (or KerasModel for .keras); raises ValueError naming the file."""
    from realtime.runtime import default_model_path, load_model

    p = Path(path) if path is not None else default_model_path()
    if p.suffix == ".keras":
        if not p.is_file():
            raise ValueError(f"{p}: model file not found")
        return KerasModel(p)
    return load_model(p, threads=threads, warmup=False)  # (a missing default model: its message says why)


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    def fail(msg: str) -> int:
        print(f"drumtimbre predict: {msg}", file=sys.stderr)
        return 1

    if args.batch_size < 1:
        print(f"drumtimbre predict: --batch-size {args.batch_size}: must be >= 1", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"drumtimbre predict: --threads {args.threads}: must be >= 1", file=sys.stderr)
        return 2
    from encoder.audio import find_audio

    try:
        files = find_audio(args.paths)
    except FileNotFoundError as exc:
        return fail(str(exc))
    if not files:
        return fail(f"no audio files found in {', '.join(args.paths)}")
    if args.output != "-":  # (opening it empties it: never one of the inputs)
        from encoder.out_path import input_clash
        from realtime.runtime import default_model_path

        clash = input_clash(args.output, [("input file", f) for f in files]
                            + [("model file", args.model or default_model_path())])
        if clash:
            return fail(clash)
    try:
        model = open_model(args.model, args.threads)
    except ImportError as exc:
        return fail(f"{args.model}: a .keras model needs TensorFlow and Keras 3 (pip install 'drumtimbre[train]'), "
                    f"or export it to ONNX with `drumtimbre export`: {exc}")
    except (ValueError, OSError) as exc:
        return fail(str(exc))

    from realtime.runtime import predict_files

    show = not args.no_progress and len(files) > 1
    failed = warned = 0
    out = sys.stdout if args.output == "-" else None
    try:
        if out is None:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            out = open(args.output, "w", newline="", errors="surrogateescape")  # (names need not be UTF-8)
    except OSError as exc:
        return fail(f"{args.output}: cannot write ({exc.strerror or exc})")
    errors = getattr(out, "errors", None)
    if out is sys.stdout and errors == "strict" and hasattr(out, "reconfigure"):
        out.reconfigure(errors="surrogateescape")  # (a name that is not UTF-8 is written as its bytes, as ls does)
    try:
        from tqdm import tqdm

        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        with tqdm(total=len(files), unit="file", disable=not show, file=sys.stderr, leave=False) as bar:
            for path, points, error in predict_files(model, files, batch_size=args.batch_size):
                if points is None:
                    failed += 1
                    writer.writerow([str(path), *[""] * len(DESCRIPTORS)])
                    bar.write(f"drumtimbre predict: {path}: {error}", file=sys.stderr)
                else:
                    writer.writerow([str(path), *map(_fmt, points)])
                    if error:  # (a warning: the row stands)
                        warned += 1
                        bar.write(f"drumtimbre predict: warning: {path}: {error}", file=sys.stderr)
                bar.update(1)
    finally:
        if out is not sys.stdout:
            out.close()
        elif errors == "strict" and hasattr(out, "reconfigure"):
            out.reconfigure(errors=errors)
    done = len(files) - failed
    dest = "stdout" if args.output == "-" else args.output
    print(f"drumtimbre predict: {done} of {len(files)} files predicted -> {dest}"
          + (f"; {failed} failed (empty rows; reasons above)" if failed else "")
          + (f"; {warned} with a warning (above)" if warned else ""), file=sys.stderr)
    return 1 if failed else 0
