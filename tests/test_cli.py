"""The `drumtimbre` command itself: a subcommand whose optional extra is not installed says which to install."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from encoder.models import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]


def _without(modules: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    """`drumtimbre ARGV` in a fresh interpreter where importing any of `modules` fails, as in the run-time install."""
    block = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    code = f"import sys; {block}; from drumtimbre.cli import main; sys.exit(main({argv!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv, missing, extra", [
    (["train", "--data", "labels.csv", "--arch", next(iter(ARCHITECTURES)), "--out", "run"], ["keras", "tensorflow"],
     "train"),
    (["build-data", "--out", "data_out", "--no-debian"], ["scipy"], "train"),
])
def test_a_missing_extra_is_named_with_the_install_command_not_a_traceback(tmp_path, argv, missing, extra):
    argv = [str(tmp_path / a) if a in ("labels.csv", "run", "data_out") else a for a in argv]
    r = _without(missing, argv)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert f"drumtimbre {argv[0]}: needs " in r.stderr and f"pip install 'drumtimbre[{extra}]'" in r.stderr
    assert ("timbral_models" in r.stderr) == (argv[0] == "build-data")  # the labeller: only where it runs
    assert not (tmp_path / "run").exists() and not (tmp_path / "data_out").exists()


def test_a_missing_module_that_no_extra_installs_is_a_bug_and_keeps_its_traceback():
    r = _without(["numpy"], ["onsets", "no-such-file.wav"])
    assert r.returncode != 0 and "Traceback" in r.stderr and "ModuleNotFoundError" in r.stderr
