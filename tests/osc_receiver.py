"""A real python-osc UDP server for tests: records every message it gets as (address, args)."""
from __future__ import annotations

import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import ThreadingOSCUDPServer


class Receiver:
    """Listens on 127.0.0.1 at a free port (`port`) from construction until `close()`."""

    def __init__(self):
        self.got: list[tuple[str, tuple]] = []
        d = Dispatcher()
        d.set_default_handler(lambda address, *args: self.got.append((address, args)))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
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
