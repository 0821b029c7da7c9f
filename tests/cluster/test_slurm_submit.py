"""A fold submitted through submitit to the dev SLURM cluster trains and completes with the
resources of its launch settings; killing the launcher leaves the job, and launching the fold
again while it is queued or running re-attaches instead of submitting a second job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cluster.folds import read_fold
from cluster.launcher import SubmissionError, job_name, submit
from cluster_helpers import attempts, sacct_states, squeue_job_ids, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def test_submitted_fold_trains_writes_result_and_done_and_completes_in_sacct(make_fold):
    fold_yaml = make_fold("fold")
    run_dir = fold_yaml.parent

    assert submit([fold_yaml], wait=True) == 0

    result = json.loads((run_dir / "result.json").read_text())
    assert (run_dir / "done").exists()
    assert result["target_domain"] == "mono" and result["steps"] == 8 and result["world_size"] == 1
    assert 0.0 <= result["acc_last"] <= 100.0
    (attempt,) = attempts(run_dir)
    assert attempt["cluster"] == "slurm"
    # `done` is written last by the trainer, a moment before the job's process exits
    wait_until(lambda: sacct_states(attempt["job_id"]) == ["COMPLETED"], 60, "sacct to show the job COMPLETED")


def test_killed_launcher_leaves_its_job_and_a_relaunch_reattaches_to_that_one_job(make_fold, capsys):
    fold_yaml = make_fold("twice", train={"steps": 100})
    name = job_name(read_fold(fold_yaml).run_dir)
    waiting = subprocess.Popen([sys.executable, "-m", "fixclr.cli", "submit", str(fold_yaml), "--wait"],
                               stdout=subprocess.DEVNULL)
    wait_until(lambda: (fold_yaml.parent / "launch.json").exists(), 60, "the launcher to submit the fold")
    waiting.terminate()  # what Snakemake does to its jobs when interrupted
    waiting.wait(timeout=30)
    (first_job,) = [a["job_id"] for a in attempts(fold_yaml.parent)]
    assert squeue_job_ids(name) == [first_job]

    assert submit([fold_yaml]) == 0  # while the job is pending or running

    assert "re-attached" in capsys.readouterr().out
    assert squeue_job_ids(name) == [first_job]
    assert [a["job_id"] for a in attempts(fold_yaml.parent)] == [first_job]
    assert submit([fold_yaml], wait=True) == 0
    wait_until(lambda: sacct_states(first_job) == ["COMPLETED"], 60, "sacct to show the job COMPLETED")
    assert submit([fold_yaml]) == 0  # done: a no-op
    assert len(attempts(fold_yaml.parent)) == 1


def test_job_resources_come_from_the_fold_launch_settings(make_fold):
    fold_yaml = make_fold("gpu", launch={"gpus_per_node": 1, "time_min": 7, "mem_gb": 1.5,
                                         "extra_sbatch": ["--comment=fixclr-test"]})

    assert submit([fold_yaml], wait=True) == 0

    (attempt,) = attempts(fold_yaml.parent)
    job = subprocess.run(["scontrol", "show", "job", attempt["job_id"]], capture_output=True, text=True,
                         check=True).stdout
    assert "TimeLimit=00:07:00" in job and "Comment=fixclr-test" in job
    assert "gres/gpu=1" in job and "mem=1.50G" in job and "NumTasks=1" in job


def test_a_job_sbatch_refuses_names_the_fold(make_fold):
    fold_yaml = make_fold("bad-partition", launch={"partition": "no-such-partition"})
    with pytest.raises(SubmissionError, match=r"sbatch refused .*bad-partition/fold.yaml:\n.*partition"):
        submit([fold_yaml])


def test_fold_and_submitit_folder_with_a_space_and_a_non_ascii_letter_train_on_slurm(make_fold, tmp_path):
    fold_yaml = make_fold("odd pâth", launch={"submitit_folder": str(tmp_path / "sub mit é")})
    assert submit([fold_yaml], wait=True) == 0
    assert (fold_yaml.parent / "done").exists()
    assert json.loads((fold_yaml.parent / "result.json").read_text())["steps"] == 8
    (attempt,) = attempts(fold_yaml.parent)
    assert attempt["log"].startswith(str(tmp_path / "sub mit é")) and "step 8/8" in open(attempt["log"]).read()
