"""Fixtures for data tests: the prep and manifest commands run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixclr.cli import main as fixclr


@pytest.fixture
def prep(capsys):
    """Run ``fixclr prep ROOT OUT [args]`` in-process; return (exit status, stderr)."""

    def run(root: Path, out: Path, *args: str, dataset: str = "toy") -> tuple[int, str]:
        capsys.readouterr()
        status = fixclr(["prep", "--root", str(root), "--dataset", dataset, "--out", str(out), "--workers", "1",
                            "--no-progress", *args])
        return status, capsys.readouterr().err

    return run


@pytest.fixture
def manifest(capsys):
    """Run ``fixclr manifest --out OUT`` in-process; return (exit status, stderr)."""

    def run(out: Path) -> tuple[int, str]:
        capsys.readouterr()
        status = fixclr(["manifest", "--out", str(out)])
        return status, capsys.readouterr().err

    return run
