"""Fixture: an empty runs folder for hand-written result.json files (result_files.write_fold)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """results/runs under tmp_path."""
    path = tmp_path / "results" / "runs"
    path.mkdir(parents=True)
    return path
