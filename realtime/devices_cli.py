"""`drumtimbre devices`: list audio input devices (index, name, host API, input channels, default rate)."""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host-api", dest="host_api", default=None, help="only devices of this host API (part of its name)")


def run(args: argparse.Namespace) -> int:
    from realtime.sources import SourceError, list_input_devices

    try:
        devices = list_input_devices()
    except SourceError as exc:
        print(f"drumtimbre devices: error: {exc}", file=sys.stderr)
        return 1
    if args.host_api:
        devices = [d for d in devices if args.host_api.lower() in d.host_api.lower()]
    if not devices:
        print("no audio input devices found", file=sys.stderr)
        return 1
    name_w = max(4, *(len(d.name) for d in devices))
    api_w = max(8, *(len(d.host_api) for d in devices))
    print(f"{'index':>5}  {'name':<{name_w}}  {'host API':<{api_w}}  {'inputs':>6}  {'default rate':>12}")
    for d in devices:
        print(f"{d.index:>5}  {d.name:<{name_w}}  {d.host_api:<{api_w}}  {d.input_channels:>6}  "
              f"{d.default_samplerate:>9.0f} Hz")
    return 0
