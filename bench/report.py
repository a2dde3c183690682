"""The benchmarks' one way to hand over a markdown report: print it, and write it where asked."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """This machine in one line: architecture, cores, CPU model (the VM's host can change between runs), OS,
    Python."""
    cpu = "CPU model unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def emit(lines: list[str], path: Path | None) -> str:
    """Join `lines` into the report text, print it, write it to `path` (its folder made) when given; the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return text
