"""Operating-system names for drumtimbre's threads, so `top -H`, `ps -L` and /proc show which is which.

Python names its threads for Python only; the kernel sees every thread of
`drumtimbre listen` as "drumtimbre".  `name_this_thread` sets the calling
thread's kernel name (Linux: prctl PR_SET_NAME, at most 15 bytes) and does
nothing elsewhere or when it fails: a name is a convenience, never a reason to stop.
"""
from __future__ import annotations

import sys

ENGINE = "dt-engine"
"""The worker: onset detection, windows, the model, OSC."""
FILE_READER = "dt-file"
"""The file source's reader (`listen --input`, `analyze`)."""

_PR_SET_NAME = 15


def name_this_thread(name: str) -> bool:
    """Give the calling thread the kernel name `name` (cut to 15 bytes); True when it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_NAME, name.encode("ascii", "replace")[:15], 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
