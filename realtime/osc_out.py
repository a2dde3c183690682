"""OSC output: one bundle per estimate, to one or more UDP destinations.

Final estimate, one bundle:
    <prefix>/hit i f f           hit id, onset time (stream seconds), peak level (dBFS)
    <prefix>/timbre i fffffff    hit id + hardness depth brightness roughness warmth sharpness boominess
    <prefix>/<descriptor> f      one message per descriptor
Early estimate, its own bundle, same shapes under <prefix>/early/...
Values are 0-1 (scale 'unit', default) or AudioCommons points 0-100 (scale 'audiocommons').
Bundle timetag: immediate (default) or the onset's wall-clock time ('onset').
A send error is reported once per destination and never stops the engine.
"""
from __future__ import annotations

import functools
import socket
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from encoder.descriptors import DESCRIPTORS, clip_points, denormalise

SCALES = ("unit", "audiocommons")
TIMETAGS = ("immediate", "onset")
DEFAULT_DESTINATION = "127.0.0.1:9000"
DEFAULT_PREFIX = "/drumtimbre"


@dataclass(frozen=True)
class Destination:
    """A UDP destination for the OSC bundles."""

    host: str
    port: int

    def __str__(self) -> str:
        """'HOST:PORT', an IPv6 address in brackets ('[::1]:9000'), as parse_destination reads it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_destination(text: str) -> Destination:
    """'HOST:PORT' (or '[v6addr]:PORT') -> Destination; ValueError naming the text otherwise."""
    text = str(text).strip()
    if text.startswith("["):  # an IPv6 address: [v6addr]:PORT
        host, sep, port = text[1:].partition("]:")
        if not sep or not host or "]" in host or "[" in host:
            raise ValueError(f"OSC destination {text!r}: expected [v6addr]:PORT, e.g. [::1]:9000")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"OSC destination {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
        if ":" in host or "[" in host or "]" in host:
            raise ValueError(f"OSC destination {text!r}: an IPv6 address goes in brackets, e.g. [::1]:9000")
    try:
        port_n = int(port)
    except ValueError:
        raise ValueError(f"OSC destination {text!r}: port {port!r} is not a number") from None
    if not 1 <= port_n <= 65535:
        raise ValueError(f"OSC destination {text!r}: port {port_n} out of range 1-65535")
    return Destination(host, port_n)


def check_prefix(prefix: str) -> str:
    """A valid OSC address prefix: starts with '/', no trailing '/', no spaces or OSC pattern characters."""
    given = str(prefix)
    prefix = given.rstrip("/")
    if (not prefix.startswith("/") or "//" in prefix or any(c in prefix for c in " #*,?[]{}")
            or not all(33 <= ord(c) < 127 for c in prefix)):
        raise ValueError(f"OSC prefix {given!r}: must start with '/' and be printable ASCII with no spaces, "
                         "'//' or #*,?[]{} (e.g. /drumtimbre or /kit/snare)")
    return prefix


def scale_values(values: np.ndarray, scale: str) -> list[float]:
    """Normalised 0-1 model outputs -> floats in the chosen scale."""
    if scale == "unit":
        return [float(v) for v in np.clip(values, 0.0, 1.0)]
    if scale == "audiocommons":
        return [float(v) for v in clip_points(denormalise(values))]
    raise ValueError(f"scale {scale!r}: expected one of {', '.join(SCALES)}")


def build_bundle(est, prefix: str = DEFAULT_PREFIX, scale: str = "unit", timetag: str = "immediate") -> bytes:
    """The datagram of one estimate (see module docstring).

    Encoded with python-osc's type writers (`pythonosc.parsing.osc_types`): the
    same bytes as its message and bundle builders (a test compares), without
    their parsing back every message they build.
    """
    from pythonosc.osc_bundle_builder import IMMEDIATELY
    from pythonosc.parsing import osc_types

    base = prefix + ("/early" if est.kind == "early" else "")
    values = scale_values(est.values, scale)
    hit = osc_types.write_int(int(est.hit_id))
    floats = [osc_types.write_float(v) for v in values]
    parts = [_head(f"{base}/hit", "iff") + hit + osc_types.write_float(float(est.onset_s))
             + osc_types.write_float(float(est.peak_dbfs)),
             _head(f"{base}/timbre", "i" + "f" * len(values)) + hit + b"".join(floats)]
    parts += [_head(f"{base}/{name}", "f") + f for name, f in zip(DESCRIPTORS, floats)]
    stamp = osc_types.write_date(est.onset_wall if timetag == "onset" else IMMEDIATELY)
    return b"#bundle\x00" + stamp + b"".join(osc_types.write_int(len(m)) + m for m in parts)


@functools.lru_cache(maxsize=256)
def _head(address: str, tags: str) -> bytes:
    """An OSC message's address and type tag strings, encoded."""
    from pythonosc.parsing import osc_types

    return osc_types.write_string(address) + osc_types.write_string("," + tags)


class OscOut:
    """Engine callback sending each estimate as one bundle to every destination."""

    def __init__(self, destinations: list[str | Destination], prefix: str = DEFAULT_PREFIX,
                 scale: str = "unit", timetag: str = "immediate", report: Callable[[str], None] | None = None):
        if scale not in SCALES:
            raise ValueError(f"scale {scale!r}: expected one of {', '.join(SCALES)}")
        if timetag not in TIMETAGS:
            raise ValueError(f"timetag {timetag!r}: expected one of {', '.join(TIMETAGS)}")
        wanted = [d if isinstance(d, Destination) else parse_destination(d)
                  for d in (destinations or [DEFAULT_DESTINATION])]
        self.prefix = check_prefix(prefix)
        self.scale = scale
        self.timetag = timetag
        self.report = report or (lambda text: print(text, file=sys.stderr, flush=True))
        self.sent = 0
        self.errors = 0
        self._reported: set[str] = set()
        self.destinations: list[Destination] = []
        self._socks: list[socket.socket | None] = []
        first: dict[tuple, Destination] = {}  # resolved address -> the destination first naming it
        for d in wanted:
            s, addr = self._open(d)
            if addr is not None and addr in first:  # (given twice, or as a name and its address: once is enough)
                if s is not None:
                    s.close()
                self.report(f"warning: OSC to {d}: the same address as {first[addr]}; each bundle goes there once")
                continue
            if addr is not None:
                first[addr] = d
            self.destinations.append(d)
            self._socks.append(s)

    def _open(self, d: Destination) -> tuple[socket.socket | None, tuple | None]:
        """A non-blocking UDP socket connected to `d`, and the address it resolved to (None for the socket,
        reported, when the host does not resolve or cannot be reached).  Connected, so that a port nobody listens
        on is heard of: the kernel's ICMP "port unreachable" comes back as ECONNREFUSED on a later send, which is
        then reported like any other send error."""
        try:
            family, _, _, _, addr = socket.getaddrinfo(d.host, d.port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            self._report_once(d, f"cannot resolve host ({exc}); nothing is sent to it")
            return None, None
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError as exc:  # e.g. no route to the host
            s.close()
            self._report_once(d, f"cannot reach it ({exc}); nothing is sent to it")
            return None, (family, addr)
        return s, (family, addr)

    def _report_once(self, d: Destination, text: str) -> None:
        if str(d) not in self._reported:
            self._reported.add(str(d))
            self.report(f"warning: OSC to {d}: {text}; further errors for it are counted, not shown")

    def __call__(self, est) -> None:
        data = build_bundle(est, self.prefix, self.scale, self.timetag)
        for d, s in zip(self.destinations, self._socks):
            if s is None:  # (not resolved or not reachable at the start: each bundle not sent is one error)
                self.errors += 1
                continue
            try:
                s.send(data)
                self.sent += 1
            except OSError as exc:  # refused (nobody listens), unreachable, buffer full: report once, carry on
                self.errors += 1
                self._report_once(d, f"send failed ({exc})")

    def close(self) -> None:
        """Close the sockets."""
        for s in self._socks:
            if s is not None:
                s.close()
        self._socks = [None] * len(self._socks)
