"""Jobs that do not finish: a cancelled fold shows as failed, is resubmitted and resumes from its
checkpoint to the accuracies of an uninterrupted run; a fold longer than its time limit requeues
itself and completes."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from cluster.cli import resubmit_main, status_main
from cluster.folds import read_fold
from cluster.launcher import submit
from cluster.status import fold_statuses
from cluster_helpers import attempts, sacct_states, squeue_job_ids, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

ACCURACIES = ("acc_last", "acc_val", "acc_oracle")


def result(run_dir) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def test_cancelled_fold_is_failed_then_resubmitted_and_resumes_to_the_uninterrupted_accuracies(make_fold, capsys):
    # Long enough to outlive the cancel: submitit ignores SLURM's SIGTERM, so training goes on
    # until the SIGKILL KillWait seconds later (5 s on the dev cluster).
    train = {"steps": 300, "checkpoint_every": 5, "eval_every": 100}
    cancelled, reference = make_fold("cancelled", train=train), make_fold("reference", train=train)
    run_dir = cancelled.parent
    assert submit([cancelled, reference]) == 0  # one job array of two folds
    job_id = attempts(run_dir)[0]["job_id"]
    assert "_" in job_id

    target = read_fold(cancelled)
    wait_until(lambda: (run_dir / "checkpoint.pt").exists() or not fold_statuses([target])[0].active,
               180, "the first checkpoint of the fold")
    assert (run_dir / "checkpoint.pt").exists(), open(attempts(run_dir)[0]["log"]).read()[-3000:]
    subprocess.run(["scancel", job_id], check=True)
    wait_until(lambda: sacct_states(job_id) == ["CANCELLED"], 60, f"job {job_id} CANCELLED in sacct")
    wait_until(lambda: not squeue_job_ids(job_id, "PD,R,CG"), 60, f"the processes of job {job_id} to end")
    assert not (run_dir / "done").exists(), "training ended before the cancel: give the fold more steps"

    capsys.readouterr()
    assert status_main([str(cancelled)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("failed"))
    assert str(run_dir) in row and "CANCELLED" in row

    assert resubmit_main([str(cancelled), str(reference), "--failed", "--wait"]) == 0
    assert submit([reference], wait=True) == 0

    new_job = attempts(run_dir)[-1]["job_id"]
    assert new_job != job_id
    wait_until(lambda: sacct_states(new_job) == ["COMPLETED"], 60, f"job {new_job} COMPLETED in sacct")
    resumed = re.search(r"resuming from step (\d+)", open(attempts(run_dir)[-1]["log"]).read())
    assert resumed and 5 <= int(resumed.group(1)) < 300
    assert {k: result(run_dir)[k] for k in ACCURACIES} == {k: result(reference.parent)[k] for k in ACCURACIES}


def set_time_limit(job_id: str, minutes: int) -> None:
    """Change a job's time limit (the dev cluster's tests run as SLURM's administrator, root)."""
    subprocess.run(["scontrol", "update", f"JobId={job_id}", f"TimeLimit={minutes}"], check=True)


@pytest.mark.timeout(1800)
def test_fold_longer_than_its_time_limit_requeues_itself_and_completes(make_fold):
    # Nothing here races training speed, so a loaded machine only makes it slower (hence the long timeout:
    # at a load average of 9 on the 2-core dev machine 3,500 steps take ~12 min): the fold is submitted
    # with room to run, and once it trains (first checkpoint; ~35 s of training left on an idle core) its
    # limit drops to 1 minute: SLURM sends USR2 (90 s before the limit: at once) at its next limit check,
    # <= 30 s later, while the fold still trains; submitit requeues the job. As soon as sacct shows the
    # requeue, the limit goes back up, so the resumed run finishes instead of being cut again and again
    # (every run of a 1-minute job gets USR2 at its first check).
    fold_yaml = make_fold("time-limited", train={"steps": 3500, "checkpoint_every": 10, "eval_every": 1750},
                          launch={"time_min": 60, "max_timeouts": 30})
    run_dir = fold_yaml.parent

    assert submit([fold_yaml]) == 0
    (attempt,) = attempts(run_dir)
    job_id = attempt["job_id"]
    wait_until(lambda: (run_dir / "checkpoint.pt").exists() or (run_dir / "done").exists(), 300,
               "the fold's first checkpoint")
    set_time_limit(job_id, 1)
    wait_until(lambda: "REQUEUED" in sacct_states(job_id, duplicates=True) or (run_dir / "done").exists(), 300,
               f"job {job_id} to be requeued at its time limit")
    set_time_limit(job_id, 60)
    assert not (run_dir / "done").exists(), "the fold ended before its limit check: give it more steps"

    assert submit([fold_yaml], wait=True) == 0

    assert [a["job_id"] for a in attempts(run_dir)] == [job_id]  # requeued in SLURM, never resubmitted
    assert (run_dir / "done").exists()
    wait_until(lambda: sacct_states(job_id) == ["COMPLETED"], 60, "the job COMPLETED in sacct")
    assert "REQUEUED" in sacct_states(job_id, duplicates=True)
    assert "resuming from step" in open(attempt["log"]).read()
