"""The sweep's poller (``fixclr submit --watch``, what the workflow runs): folds handed over together
go out as one job array named after their common folder; a cancelled task gets its fold's
``failed`` marker while the other task completes, and handing the folds over again resubmits only
the cancelled one, which resumes."""

from __future__ import annotations

import re
import subprocess

import pytest

from cluster.launcher import job_name, submit
from cluster.poller import FAILED_FILE, poller_running
from cluster_helpers import attempts, sacct_states, slurm_view, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def test_watched_folds_form_one_array_and_only_the_cancelled_task_is_retrained(make_fold, tmp_path):
    train = {"steps": 300, "checkpoint_every": 5, "eval_every": 100}
    cancelled, kept = make_fold("cancelled", train=train), make_fold("kept", train=train)
    assert submit([cancelled, kept], watch=True) == 0  # handed to the poller, which submits

    wait_until(lambda: all((f.parent / "launch.json").exists() for f in (cancelled, kept)), 120,
               "the poller to submit both folds")
    (first,), (other,) = attempts(cancelled.parent), attempts(kept.parent)
    array = first["job_id"].split("_")[0]
    assert {first["job_id"], other["job_id"]} == {f"{array}_0", f"{array}_1"}  # one sbatch --array
    job = subprocess.run(["scontrol", "show", "job", array], capture_output=True, text=True, check=True).stdout
    assert f"JobName={job_name(tmp_path / 'runs')}" in job  # the group's folder; launch.json maps tasks to folds
    script = (tmp_path / "submitit" / f"{array}_submission.sh").read_text()
    assert "#SBATCH --array=0-1%2" in script  # throttled: min(tasks, launch.array_throttle)

    wait_until(lambda: (cancelled.parent / "checkpoint.pt").exists(), 180, "the first checkpoint of the fold")
    subprocess.run(["scancel", first["job_id"]], check=True)
    wait_until(lambda: (cancelled.parent / FAILED_FILE).exists(), 120, "the poller's failed marker",
               explain=lambda: slurm_view(array, tmp_path / "submitit" / "poller.log", first["log"]))
    assert "CANCELLED" in (cancelled.parent / FAILED_FILE).read_text()
    wait_until(lambda: (kept.parent / "done").exists(), 300, "the other task to finish")
    assert not (kept.parent / FAILED_FILE).exists()

    assert submit([cancelled, kept], watch=True) == 0  # the next workflow run
    assert not (cancelled.parent / FAILED_FILE).exists()
    wait_until(lambda: (cancelled.parent / "done").exists(), 300, "the resubmitted fold to finish")
    assert len(attempts(kept.parent)) == 1 and len(attempts(cancelled.parent)) == 2
    resubmitted = attempts(cancelled.parent)[-1]["job_id"]
    assert resubmitted.split("_")[0] != array
    assert re.search(r"resuming from step (\d+)", open(attempts(cancelled.parent)[-1]["log"]).read())
    wait_until(lambda: sacct_states(resubmitted) == ["COMPLETED"], 60, "the resubmitted job COMPLETED")
    wait_until(lambda: not poller_running(tmp_path / "submitit"), 60, "the poller to exit, nothing left to watch")
