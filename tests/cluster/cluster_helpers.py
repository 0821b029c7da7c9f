"""Helpers of the launcher tests: what SLURM recorded, and polling with a deadline."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest


def sacct_states(job_id: str, duplicates: bool = False) -> list[str]:
    """Every state sacct records for the job (with ``duplicates``, also one per requeued run)."""
    command = ["sacct", "-X", "-n", "-P", "-o", "State", "-j", job_id] + (["-D"] if duplicates else [])
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split()[0] for line in lines if line.strip()]  # "CANCELLED by 0" -> CANCELLED


def squeue_job_ids(job: str, states: str = "PD,R") -> list[str]:
    """Ids of the jobs named ``job`` (a job name, or a job id) that the controller holds in ``states``
    (default: pending or running)."""
    selector = ["-j", job] if job.replace("_", "").isdigit() else ["-n", job]
    out = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i", *selector], capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def attempts(run_dir: Path) -> list[dict]:
    """The launch attempts recorded in the fold's launch.json."""
    return json.loads((run_dir / "launch.json").read_text())["attempts"]


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
