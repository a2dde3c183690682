"""A WAV file cut short (a copy or download that stopped part way): its header promises more audio than the
file holds.  libsndfile reads what is there and says nothing, so the streaming readers ask here once the file
has been read to its end."""
from __future__ import annotations

import os
import struct
from pathlib import Path


UNKNOWN_SIZE = 0x7FFFF000
"""A data size from here up is a placeholder of a writer that streamed (0xFFFFFFFF, arecord's 0x7FFFFFFF):
no length declared."""
SHORT_BY_BYTES = 4096
"""A file holding less than this much (bytes) under its header's data size is taken as whole: a writer's
rounding, not a copy cut short."""


def wav_cut_short(path: str | Path) -> str | None:
    """'cut short: its header promises 8.0 s of audio, the file holds 3.0 s' for a RIFF/RIFX WAVE file whose
    data chunk is declared longer than the bytes that follow it (by `SHORT_BY_BYTES` or more); None for a whole
    file, another format, or a header that declares no length (0, or `UNKNOWN_SIZE` and up: written while
    streaming)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            size = os.fstat(f.fileno()).st_size
            pos, byte_rate = 12, 0
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, n = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(min(n, 16))
                    if len(fmt) >= 12:
                        byte_rate = struct.unpack(order + "I", fmt[8:12])[0]
                elif cid == b"data":
                    have = size - (pos + 8)
                    if n == 0 or n >= UNKNOWN_SIZE or n - have < SHORT_BY_BYTES:
                        return None
                    if byte_rate:
                        return (f"cut short: its header promises {n / byte_rate:.1f} s of audio, the file holds "
                                f"{have / byte_rate:.1f} s")
                    return f"cut short: its header promises {n} bytes of audio, the file holds {have}"
                pos += 8 + n + (n & 1)
    except OSError:
        return None
    return None
