"""The `drumtimbre` console command.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`.  Those modules keep their top-level imports light (no
TensorFlow, no PortAudio): heavy imports happen inside `run`.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from drumtimbre import __version__

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "label": ("encoder.label_cli", "label audio files with the AudioCommons reference labeller -> CSV"),
    "build-data": ("encoder.recipe_cli", "rebuild the training data recipe (synthesised drums + Debian kits, labelled)"),
    "train": ("encoder.train_cli", "train a model on label CSVs / Freesound manifests"),
    "blend": ("encoder.blend_cli", "add gradient-boosted trees on the band statistics to a trained log-mel run"),
    "evaluate": ("encoder.evaluate_cli", "evaluate a model on labelled data -> JSON report and plots"),
    "predict": ("realtime.predict_cli", "predict the 7 descriptors of files -> CSV"),
    "export": ("export.cli", "export a Keras model or run dir to ONNX with its contract"),
    "onsets": ("realtime.onsets_cli", "run the live onset detector over a file -> onset times"),
    "analyze": ("realtime.analyze_cli", "per-hit table of a recording through the live engine -> CSV"),
    "listen": ("realtime.listen_cli", "live input (or a file) -> per-hit timbre over OSC"),
    "devices": ("realtime.devices_cli", "list audio input devices"),
}


EXTRA_OF = {m: "train" for m in ("tensorflow", "keras", "tf2onnx", "onnx", "scipy", "librosa", "sklearn",
                                  "pyloudnorm", "six", "timbral_models")} | {"matplotlib": "plot"}
"""Modules of the optional extras (pyproject.toml) -> the extra that installs them: a subcommand that needs one the
install lacks says which to install, instead of a traceback."""
LABELLING = ("label", "build-data")
"""Subcommands that run the reference labeller (timbral_models, installed apart: its metadata names a dead package)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drumtimbre", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"drumtimbre {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # subcommand not available in this checkout
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # (here, so that a reader gone shows now, not as an error at exit)
        return code
    except BrokenPipeError:  # stdout's reader left early (`drumtimbre predict DIR | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        print(f"drumtimbre {args.command}: stdout closed by its reader before all was written", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in EXTRA_OF:
            raise
        extra = EXTRA_OF[top]
        print(f"drumtimbre {args.command}: needs {top}, which this install lacks: pip install 'drumtimbre[{extra}]'"
              + (" (and the labeller: pip install --no-deps timbral_models==0.4.0)"
                 if args.command in LABELLING else ""),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
