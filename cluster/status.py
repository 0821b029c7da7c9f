"""The state of folds: done / running / pending / failed (with SLURM's reason) / not started,
from each run folder's ``done``, ``launch.json`` and ``train.lock`` and one SLURM query for all of them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from cluster.folds import LaunchTarget, read_launch_record
from cluster.local import LOG_NAME, local_process_alive
from cluster.slurm import JobState, job_states
from fixclr.run_lock import LOCK_NAME, lock_holder

STATES = ("done", "running", "pending", "failed", "not started")


@dataclass(frozen=True)
class FoldStatus:
    """Where one fold stands; ``detail`` names the job/process and, for a failure, why."""

    target: LaunchTarget
    state: str
    detail: str = ""
    log: Path | None = None

    @property
    def reason(self) -> str:
        """Why a failed fold failed, in one word (OOM, TIMEOUT, CANCELLED, exception, lost, ...)."""
        return self.detail.split(" (", 1)[0] if self.state == "failed" else ""

    @property
    def active(self) -> bool:
        """Its job or process may still finish."""
        return self.state in ("running", "pending")


def tail_lines(path: Path | None, count: int = 8) -> list[str]:
    """The last ``count`` lines of a log (empty when there is none)."""
    if path is None or not path.is_file():
        return []
    with open(path, errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=count)]


def attempt_name(attempt: dict) -> str:
    """``job 12`` (SLURM) or ``pid 345 on host`` (local)."""
    if attempt["cluster"] == "slurm":
        return f"job {attempt['job_id']}"
    return f"pid {attempt['pid']} on {attempt.get('host')}"


def _slurm_status(target: LaunchTarget, attempt: dict, state: JobState | None, log: Path) -> FoldStatus:
    job = attempt_name(attempt)
    if state is None:
        return FoldStatus(target, "failed", f"lost ({job} unknown to SLURM: purged or lost)", log)
    if state.active:
        waiting = f", {state.reason}" if state.phase == "pending" and state.reason not in ("", "None") else ""
        return FoldStatus(target, state.phase, f"{job} {state.state}{waiting}", log)
    exit_code = f", exit {state.exit_code}" if state.exit_code not in ("", "0:0") else ""
    return FoldStatus(target, "failed", f"{state.failure_reason} ({job} {state.state}{exit_code})", log)


def _local_status(target: LaunchTarget, attempt: dict, fold_yaml: Path, log: Path) -> FoldStatus:
    alive = local_process_alive(attempt, fold_yaml)
    where = attempt_name(attempt)
    if alive is None:
        return FoldStatus(target, "running", f"{where} (another host: not checkable here)", log)
    if alive:
        return FoldStatus(target, "running", where, log)
    return FoldStatus(target, "failed", f"exception ({where} ended without done)", log)


def fold_statuses(targets: list[LaunchTarget]) -> list[FoldStatus]:
    """The status of every target, in order; SLURM is asked once for all their latest jobs."""
    records = [read_launch_record(t.run_dir) for t in targets]
    latest = [record["attempts"][-1] if record else None for record in records]
    slurm_ids = [a["job_id"] for t, a in zip(targets, latest) if a and a["cluster"] == "slurm" and not t.done]
    states = job_states(slurm_ids) if slurm_ids else {}
    statuses = []
    for target, record, attempt in zip(targets, records, latest):
        if target.done:
            statuses.append(FoldStatus(target, "done", attempt_name(attempt) if attempt else "",
                                       Path(attempt["log"]) if attempt else None))
        elif attempt is None:
            statuses.append(FoldStatus(target, "not started"))
        elif attempt["cluster"] == "slurm":
            statuses.append(_slurm_status(target, attempt, states.get(attempt["job_id"]), Path(attempt["log"])))
        else:
            statuses.append(_local_status(target, attempt, Path(record["fold"]), Path(attempt["log"])))
    return [_with_lock_holder(status) for status in statuses]


def _with_lock_holder(status: FoldStatus) -> FoldStatus:
    """A fold whose run folder's lock is held is running, whatever launch.json says (a trainer
    started by hand, or by another launcher): relaunching it would only start a second trainer."""
    if status.state == "done" or status.active:
        return status
    holder = lock_holder(status.target.run_dir)
    if holder is None:
        return status
    return FoldStatus(status.target, "running", f"{holder} (holds {status.target.run_dir / LOCK_NAME})",
                      status.log or status.target.run_dir / LOG_NAME)


def failure_report(statuses: list[FoldStatus], lines: int = 8) -> list[str]:
    """For each failed fold: its reason and log, then the log's last lines (the exception)."""
    report = []
    for status in statuses:
        if status.state == "failed":
            report.append(f"FAILED: {status.target.name}: {status.detail}; log {status.log}")
            report += [f"    {line}" for line in tail_lines(status.log, lines)]
    return report
