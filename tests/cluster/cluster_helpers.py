"""Helpers of the launcher tests: tiny fold settings, what SLURM recorded, polling with a deadline."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

# A narrow CNN trained a few steps: seconds per fold on one core.
TINY_TRAIN = {"target_domain": "mono", "method": "fixmatch", "steps": 8, "batch_size": 12, "mu": 1,
              "eval_every": 4, "checkpoint_every": 4, "width": 8, "proj_dim": 16, "eval_batch_size": 512,
              "threads": 1, "device": "cpu"}
# Small enough for a CI runner's memory; polls fast so the tests do not idle.
TINY_LAUNCH = {"cpus_per_task": 1, "mem_gb": 1, "time_min": 10, "poll_s": 1}


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


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2, explain=None):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what`` after the timeout,
    followed by ``explain()`` (what the test knows of the state it waited on) when given."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}" + (f"\n{explain()}" if explain else ""))


def slurm_view(job_id: str, *logs: Path) -> str:
    """What SLURM and the given logs say now: for a timed-out wait's failure message."""
    views = [f"$ {' '.join(command)}\n" + subprocess.run(command, capture_output=True, text=True).stdout
             for command in (["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", job_id],
                             ["squeue", "-h", "--states=all", "-o", "%i|%T|%r", "-j", job_id])]
    views += [f"--- {log}\n" + "".join(Path(log).read_text(errors="replace").splitlines(True)[-15:])
              for log in logs if Path(log).is_file()]
    return "\n".join(views)
