"""The benchmarks' one way to hand over a markdown report: print it, and write it where asked."""
from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], path: Path | None) -> str:
    """Join `lines` into the report text, print it, write it to `path` (its folder made) when given; the text."""
    text = "\n".join(lines) + "\n"
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return text
