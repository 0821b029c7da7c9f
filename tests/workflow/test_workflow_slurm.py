"""`snakemake --profile slurm` against the dev SLURM cluster (cluster/dev): CPU rules through sbatch
(Snakemake's SLURM executor), folds through submitit; a fold cancelled in SLURM is retrained alone
by the next `snakemake --profile slurm`. Skipped without a cluster, except under CI=true."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from workflow_helpers import REPO, SNAKEMAKE, TINY_CONFIG, job_counts, write_config

from cluster.slurm import slurm_answers

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
CANCELLED = "digits-dg-mini/cnn/fixmatch+fixclr/photo/n5/s0"
# Only the FixMatch+FixCLR folds train long enough to be cancelled mid-way.
LONG_VARIANT = {"method": "fixmatch", "regularizer": "fixclr", "train": {"steps": 150, "checkpoint_every": 10}}


@pytest.fixture(scope="module", autouse=True)
def dev_cluster():
    if not slurm_answers():
        message = "no dev SLURM cluster answers (sinfo/sacct): cluster/dev/install && cluster/dev/start"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)


def snakemake_slurm(workdir, configfile) -> list[str]:
    """`snakemake --profile slurm` typed from the repository root, polling the dev cluster every second."""
    return [str(SNAKEMAKE), "--profile", "slurm", "--directory", str(workdir), "--configfile", str(configfile),
            "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


def job_id(run_dir) -> str | None:
    launch = run_dir / "launch.json"
    return json.loads(launch.read_text())["attempts"][-1].get("job_id") if launch.is_file() else None


def test_profile_runs_the_tiny_sweep_and_retrains_a_cancelled_fold_alone(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    configfile = write_config(tmp_path / "sweep.yaml",
                              sweep={**config["sweep"], "variants": [{"method": "erm"}, LONG_VARIANT]})
    runs = tmp_path / "results" / "runs"
    first = subprocess.Popen(snakemake_slurm(tmp_path, configfile), cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600
        while not job_id(runs / CANCELLED) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        cancelled_job = job_id(runs / CANCELLED)
        assert cancelled_job, "the fold never reached SLURM"
        subprocess.run(["scancel", cancelled_job], check=True)
        output = first.communicate(timeout=900)[0]
    finally:
        if first.poll() is None:  # Ctrl-C: Snakemake cancels the SLURM jobs it submitted, then exits
            first.send_signal(signal.SIGINT)
            first.wait(timeout=120)
    assert first.returncode != 0, output[-3000:]  # keep-going: the other folds finished
    assert not (runs / CANCELLED / "done").exists()
    finished = sorted(str(p.parent.relative_to(runs)) for p in runs.rglob("done"))
    assert len(finished) == 3 and CANCELLED not in finished
    mtimes = {fold: (runs / fold / "result.json").stat().st_mtime_ns for fold in finished}
    assert "has been submitted with SLURM jobid" in output, "no CPU rule went through sbatch:\n" + output[-3000:]

    second = subprocess.run(snakemake_slurm(tmp_path, configfile), cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert job_counts(second.stdout + second.stderr) == {"train": 1, "aggregate": 1, "report": 1, "all": 1}
    assert job_id(runs / CANCELLED) != cancelled_job  # resubmitted, not re-attached to the cancelled job
    assert {fold: (runs / fold / "result.json").stat().st_mtime_ns for fold in finished} == mtimes
    states = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", job_id(runs / CANCELLED)],
                            capture_output=True, text=True, check=True).stdout.split()
    assert states == ["COMPLETED"]
    assert (tmp_path / "results" / "report" / "summary.md").is_file()


def test_profile_with_a_command_line_config_still_trains_the_folds_in_slurm(tmp_path):
    """`--config` on the command line replaces a profile's config list; the folds must still go to
    SLURM (the workflow follows the executor), never train on the login node."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    configfile = write_config(tmp_path / "sweep.yaml", sweep={**config["sweep"], "variants": [{"method": "erm"}]})
    runs = tmp_path / "moved" / "runs"
    folds = [runs / f"digits-dg-mini/cnn/erm/{target}/n5/s0" for target in ("mono", "photo")]
    targets = [str(fold.relative_to(tmp_path) / "done") for fold in folds]
    command = [*snakemake_slurm(tmp_path, configfile), *targets, "--config", "results_dir=moved"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for fold in folds:
        (attempt,) = json.loads((fold / "launch.json").read_text())["attempts"]
        assert attempt["cluster"] == "slurm" and "pid" not in attempt
        assert yaml.safe_load((fold / "fold.yaml").read_text())["launch"]["cluster"] == "slurm"
        states = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", attempt["job_id"]],
                                capture_output=True, text=True, check=True).stdout.split()
        assert states in (["COMPLETED"], ["RUNNING"], ["COMPLETING"])  # `done` is written just before the end
