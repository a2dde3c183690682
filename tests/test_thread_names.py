"""Kernel names of drumtimbre's threads (realtime.thread_names): `top -H` and the benchmarks tell them apart."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from realtime.thread_names import ENGINE, FILE_READER, name_this_thread
from tests.jack_harness import DRUMTIMBRE, write_pattern
from tests.onnx_fixtures import write_fixture_model

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names are read from Linux /proc")


def _comm(tid: int, pid: str = "self") -> str:
    return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()


def test_a_thread_takes_its_name_cut_to_15_bytes_and_others_keep_theirs():
    seen = {}

    def run():
        seen["ok"] = name_this_thread("dt-a-rather-long-name")
        seen["comm"] = _comm(threading.get_native_id())

    before = _comm(threading.get_native_id())
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == {"ok": True, "comm": "dt-a-rather-lon"}
    assert _comm(threading.get_native_id()) == before  # the calling thread is untouched


def test_listen_names_its_worker_and_file_reader(tmp_path):
    wav = tmp_path / "loop.wav"
    write_pattern(wav, 3.0, hits_per_s=4.0)
    model = write_fixture_model(tmp_path / "fixture.onnx")
    proc = subprocess.Popen(DRUMTIMBRE + ["listen", "--input", str(wav), "--realtime", "--no-display",
                                          "--model", str(model), "--osc", "127.0.0.1:9"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    names: set[str] = set()
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not {ENGINE, FILE_READER} <= names:
            for task in Path(f"/proc/{proc.pid}/task").glob("*"):
                try:
                    names.add((task / "comm").read_text().strip())
                except OSError:
                    pass
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert {ENGINE, FILE_READER} <= names, names
