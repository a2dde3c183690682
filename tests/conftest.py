"""Shared test fixtures: the ../shared reference data and generated drum sounds."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """../shared/reference, or skip with the reason."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (the ../shared checkout beside the repo; CI has it)")
    return REFERENCE


@pytest.fixture(autouse=True)
def shipped_onset_trees(monkeypatch):
    """Every test runs the shipped onset trees, whatever DRUMTIMBRE_ONSET_TREES says in the caller's shell."""
    monkeypatch.delenv("DRUMTIMBRE_ONSET_TREES", raising=False)
