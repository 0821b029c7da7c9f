"""What SLURM says about jobs: one ``sacct`` call (with ``squeue`` for jobs accounting has not
recorded yet) for many job ids, reduced to the launcher's vocabulary."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fixclr.errors import UserError

# SLURM states of a job that may still run (the job keeps its id through requeues).
PENDING_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SUSPENDED"}
RUNNING_STATES = {"RUNNING", "CONFIGURING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"}
# Terminal states and how `fixclr status` names them.
FAILURE_REASONS = {
    "OUT_OF_MEMORY": "OOM",
    "TIMEOUT": "TIMEOUT",
    "NODE_FAIL": "NODE_FAIL",
    "BOOT_FAIL": "NODE_FAIL",
    "CANCELLED": "CANCELLED",
    "PREEMPTED": "PREEMPTED",
    "DEADLINE": "TIMEOUT",
    "FAILED": "exception",
    "COMPLETED": "completed without done",
}
SLURM_TIMEOUT_S = 60


class SlurmQueryError(UserError, RuntimeError):
    """sacct/squeue could not answer (no accounting, controller down)."""


@dataclass(frozen=True)
class JobState:
    """One job's state as SLURM reports it (``state`` is the bare state word, e.g. CANCELLED)."""

    job_id: str
    state: str
    exit_code: str = ""
    reason: str = ""

    @property
    def active(self) -> bool:
        """Still pending or running (it may yet finish)."""
        return self.state in PENDING_STATES or self.state in RUNNING_STATES

    @property
    def phase(self) -> str:
        """``pending``, ``running`` or ``ended``."""
        if self.state in PENDING_STATES:
            return "pending"
        return "running" if self.state in RUNNING_STATES else "ended"

    @property
    def failure_reason(self) -> str:
        """How a job that ended without ``done`` failed: OOM, TIMEOUT, NODE_FAIL, CANCELLED, ..."""
        return FAILURE_REASONS.get(self.state, self.state)


def _run(command: list[str], timeout_s: float = SLURM_TIMEOUT_S) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SlurmQueryError(f"{command[0]} failed: {error}") from error
    if done.returncode != 0:
        raise SlurmQueryError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _expand_ids(reported: str) -> list[str]:
    """``12_[0-2,5]`` (a pending array) -> 12_0, 12_1, 12_2, 12_5; other ids unchanged."""
    if "_[" not in reported:
        return [reported]
    main, ranges = reported.split("_[", 1)
    ids = []
    for part in ranges.split("]", 1)[0].split("%", 1)[0].split(","):
        low, _, high = part.partition("-")
        ids += [f"{main}_{index}" for index in range(int(low), int(high or low) + 1)]
    return ids


def _parse(lines: str, fields: tuple[str, ...]) -> dict[str, JobState]:
    """Rows of ``|``-separated ``fields`` (job_id and state first) -> JobState by job id."""
    states = {}
    for line in lines.splitlines():
        row = dict(zip(fields, line.split("|")))
        if len(row) != len(fields) or not row["job_id"] or "." in row["job_id"]:
            continue  # job steps and blank lines
        row["state"] = row["state"].split()[0] if row["state"] else "UNKNOWN"  # "CANCELLED by 0"
        for one_id in _expand_ids(row.pop("job_id")):
            states[one_id] = JobState(one_id, **row)
    return states


def _main_ids(job_ids: list[str]) -> str:
    return ",".join(sorted({job_id.split("_")[0] for job_id in job_ids}))


def job_states(job_ids: list[str]) -> dict[str, JobState]:
    """States of ``job_ids`` (plain ``12`` or array tasks ``12_3``); ids SLURM does not know are
    missing from the answer. Raises SlurmQueryError when SLURM cannot be asked."""
    if not job_ids:
        return {}
    reported = _parse(_run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode,Reason",
                            "-j", _main_ids(job_ids)]), ("job_id", "state", "exit_code", "reason"))
    unknown = [job_id for job_id in job_ids if job_id not in reported]
    if unknown:  # accounting lags a second or so behind the controller
        try:
            queued = _run(["squeue", "-h", "--states=all", "-o", "%i|%T|%r", "-j", _main_ids(unknown)])
        except SlurmQueryError as error:
            if "Invalid job id" not in str(error):
                raise
            queued = ""  # the controller has forgotten these jobs too
        for job_id, state in _parse(queued, ("job_id", "state", "reason")).items():
            reported.setdefault(job_id, state)
    return {job_id: reported[job_id] for job_id in job_ids if job_id in reported}


def slurm_answers(timeout_s: float = 15) -> bool:
    """True when the SLURM controller and accounting both answer (within ``timeout_s`` each)."""
    config = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    if shutil.which("sinfo") is None or not config.is_file():
        return False  # without a config file sinfo retries for a minute before giving up
    try:
        _run(["sinfo", "-h", "-o", "%P"], timeout_s)
        _run(["sacct", "-n", "-X", "-S", "now-1minute"], timeout_s)
    except SlurmQueryError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def max_array_size() -> int:
    """The cluster's MaxArraySize (``scontrol show config``): array task ids stay below it."""
    for line in _run(["scontrol", "show", "config"]).splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return 1001  # SLURM's default
