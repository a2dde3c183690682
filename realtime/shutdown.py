"""Ending a command cleanly: SIGTERM taken as Ctrl-C, a guard against a shutdown that hangs, and clean-ups
run when the command returns (for a caller that goes on, e.g. `drumtimbre.cli.main` in-process)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

SHUTDOWN_LIMIT_S = 10.0
"""After Ctrl-C, the longest a clean shutdown may take before the command (listen, analyze, onsets) exits
without it, s."""


def sigterm_as_ctrl_c() -> Callable[[], None]:
    """SIGTERM ends like Ctrl-C (a clean shutdown): it raises KeyboardInterrupt in the main thread.  Returns a
    function putting the previous handler back (for a caller that goes on, e.g. `main` run in-process)."""
    def terminate(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:
        return lambda: None  # not the main thread
    return lambda: signal.signal(signal.SIGTERM, previous)


def shutdown_guard(limit_s: float = SHUTDOWN_LIMIT_S, command: str = "listen") -> Callable[[], None]:
    """After Ctrl-C (or SIGTERM): a second Ctrl-C or SIGTERM, or a shutdown that hangs (an audio server that
    stopped answering), exits at once with status 130 instead of leaving the process stuck (or letting the
    interpreter tear down under a worker still in native code).  Returns a function that stands the guard down
    (the clean-up is over: the timer cancelled, the previous handlers back)."""
    def force(reason: str) -> None:
        print(f"drumtimbre {command}: {reason}; exiting without clean-up", file=sys.stderr, flush=True)
        os._exit(130)

    previous = []
    try:
        previous.append((signal.SIGINT, signal.signal(signal.SIGINT, lambda signum, frame: force("second Ctrl-C"))))
        previous.append((signal.SIGTERM, signal.signal(signal.SIGTERM,
                                                       lambda signum, frame: force("second Ctrl-C or SIGTERM"))))
    except ValueError:
        pass  # not the main thread
    timer = threading.Timer(limit_s, force, args=(f"shutdown took over {limit_s:g} s",))
    timer.daemon = True
    timer.start()

    def stand_down() -> None:
        timer.cancel()
        for sig, handler in reversed(previous):
            signal.signal(sig, handler)
    return stand_down


def with_cleanups(body: Callable[[list], int]) -> int:
    """body(cleanups) -> its exit status; then every function it appended to `cleanups` runs, last first
    (signal handlers put back, a shutdown guard stood down: for a caller that goes on, e.g. `main` in-process)."""
    cleanups: list = []
    try:
        return body(cleanups)
    finally:
        for undo in reversed(cleanups):
            undo()
