"""A real python-osc UDP server for tests: records every message it gets as (address, args), and every
bundle as (timetag, [(address, args), ...])."""
from __future__ import annotations

import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_server import ThreadingOSCUDPServer


class _Recording(Dispatcher):
    """A dispatcher that also keeps each bundle's raw timetag (python-osc's own handling drops a past one)."""

    def __init__(self, bundles: list):
        super().__init__()
        self._bundles = bundles

    def call_handlers_for_packet(self, data: bytes, client_address):
        if OscBundle.dgram_is_bundle(data):
            try:
                b = OscBundle(data)
                self._bundles.append((b.timestamp, [(m.address, tuple(m.params)) for m in b]))
            except Exception:  # unparsable: python-osc's own handling ignores it as well
                pass
        return super().call_handlers_for_packet(data, client_address)


class Receiver:
    """Listens on 127.0.0.1 at `port` (default: a free one) from construction until `close()`."""

    def __init__(self, port: int = 0):
        self.got: list[tuple[str, tuple]] = []
        self.bundles: list[tuple[float, list[tuple[str, tuple]]]] = []
        """(timetag in seconds since the epoch, 0 for 'immediately'; its messages) of every bundle."""
        d = _Recording(self.bundles)
        d.set_default_handler(lambda address, *args: self.got.append((address, args)))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", port), d)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def args(self, address: str) -> list[tuple]:
        """Arguments of every message received at `address`, in arrival order."""
        return [a for addr, a in self.got if addr == address]

    def wait(self, n: int, timeout: float = 3.0) -> None:
        """Return once `n` messages have arrived, or after `timeout` seconds."""
        end = time.time() + timeout
        while len(self.got) < n and time.time() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
