"""A WAV file whose header does not match its audio: cut short (a copy or download that stopped part way), its
header promising more audio than the file holds, which libsndfile reads as far as it goes and says nothing, so the
streaming readers ask here once the file has been read to its end; or a header declaring no audio with audio after
it (a recorder stopped before writing its sizes), which libsndfile reads as empty."""
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


def _data_chunk(path: str | Path) -> tuple[int, int, int] | None:
    """A RIFF/RIFX WAVE file's data chunk: (the bytes its header declares, the bytes that follow the chunk's header
    in the file, the format's bytes a second or 0); None for another format or no data chunk."""
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
                    return n, size - (pos + 8), byte_rate
                pos += 8 + n + (n & 1)
    except OSError:
        return None
    return None


def _span(n: int, byte_rate: int) -> str:
    return f"{n / byte_rate:.1f} s of audio" if byte_rate else f"{n} bytes of audio"


def wav_cut_short(path: str | Path) -> str | None:
    """'cut short: its header promises 8.0 s of audio, the file holds 3.0 s' for a RIFF/RIFX WAVE file whose
    data chunk is declared longer than the bytes that follow it (by `SHORT_BY_BYTES` or more); None for a whole
    file, another format, or a header that declares no length (0, or `UNKNOWN_SIZE` and up: written while
    streaming)."""
    data = _data_chunk(path)
    if data is None:
        return None
    n, have, byte_rate = data
    if n == 0 or n >= UNKNOWN_SIZE or n - have < SHORT_BY_BYTES:
        return None
    if byte_rate:
        return f"cut short: its header promises {n / byte_rate:.1f} s of audio, the file holds {have / byte_rate:.1f} s"
    return f"cut short: its header promises {n} bytes of audio, the file holds {have}"


def wav_header_empty(path: str | Path) -> str | None:
    """'its header declares no audio, yet 2.0 s of audio follow it ...' for a WAVE file whose data chunk is declared
    empty with bytes after it (a recorder stopped before it wrote its header's sizes: libsndfile reads 0 frames);
    None otherwise."""
    data = _data_chunk(path)
    if data is None or data[0] != 0 or data[1] < SHORT_BY_BYTES:
        return None
    return (f"its header declares no audio, yet {_span(data[1], data[2])} follow it (a recording stopped before "
            "its header was written? a WAV repair tool, or sox's --ignore-length, can restore it)")


def empty_audio(path: str | Path) -> str:
    """What to say of a file in which libsndfile finds no audio: 'empty audio (0 frames)', and why when its header
    is to blame (wav_header_empty)."""
    why = wav_header_empty(path)
    return "empty audio (0 frames)" + (f": {why}" if why else "")
