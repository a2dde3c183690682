"""`drumtimbre export MODEL_OR_RUN_DIR -o model.onnx`: Keras -> ONNX with the contract, parity-checked.

Top-level imports stay light; TensorFlow loads in `run`.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    from export.keras_to_onnx import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
    from export.parity import DEFAULT_CLIPS, MIN_CLIPS, TOLERANCE

    p.add_argument("source", metavar="MODEL_OR_RUN_DIR",
                   help="a training run folder (model.keras + run.json) or a .keras file")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write (e.g. models/default.onnx)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET}-{MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--training-data", default=None,
                   help="training data summary for the contract (default: run.json's, or 'unknown')")
    p.add_argument("--architecture", default=None,
                   help="architecture name for the contract (default: run.json's, or the Keras model name)")
    p.add_argument("--parity-clips", type=int, default=DEFAULT_CLIPS,
                   help=f"clips for the ONNX-vs-Keras check, >= {MIN_CLIPS} (default {DEFAULT_CLIPS})")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"largest allowed |ONNX - Keras|, normalised units (default {TOLERANCE:g})")


def run(args: argparse.Namespace) -> int:
    def fail(msg: str) -> int:
        print(f"drumtimbre export: {msg}", file=sys.stderr)
        return 1

    from export.keras_to_onnx import MAX_OPSET, MIN_OPSET
    from export.parity import MIN_CLIPS

    if not MIN_OPSET <= args.opset <= MAX_OPSET:  # before TensorFlow loads (seconds)
        return fail(f"--opset {args.opset}: supported {MIN_OPSET}-{MAX_OPSET}")
    if args.parity_clips < MIN_CLIPS:
        return fail(f"--parity-clips {args.parity_clips}: need at least {MIN_CLIPS}")
    if not args.output.endswith(".onnx"):
        return fail(f"{args.output}: output file name must end in .onnx")

    from export.exporter import export_model
    from export.keras_to_onnx import load_keras_source
    from export.parity import ParityError, parity_clips

    try:
        src = load_keras_source(args.source, training_data=args.training_data)
    except ImportError as exc:
        return fail(f"export needs TensorFlow, Keras 3, tf2onnx and onnx (pip install 'drumtimbre[train]'): {exc}")
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    clips, real = parity_clips(args.parity_clips)
    try:
        result = export_model(src.model, args.output, args.architecture or src.architecture, src.training_data,
                              opset=args.opset, clips=clips, real_clips=real, tolerance=args.tolerance,
                              extra={"source": str(src.path)})
    except ParityError as exc:
        return fail(f"{args.output} NOT written: {exc}")
    except ImportError as exc:
        return fail(f"export needs tf2onnx and onnx (pip install 'drumtimbre[train]'): {exc}")
    except (OSError, ValueError) as exc:
        return fail(f"{args.source}: export failed: {exc}")
    r = result.parity
    print(f"wrote {result.path} ({result.contract.architecture}, opset {result.opset}); parity on {r.clips} clips "
          f"({r.real_clips} from drum kits): max |ONNX - Keras| {r.max_abs:.2e}, mean {r.mean_abs:.2e} "
          f"(tolerance {r.tolerance:g})")
    conversion = result.contract.extra.get("conversion")
    if conversion:
        print(f"conversion: {conversion}")
    return 0
