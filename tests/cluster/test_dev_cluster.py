"""cluster/dev/start is idempotent: on a running dev cluster it starts nothing and leaves one
controller, with accounting answering."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cluster.slurm import slurm_answers

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("FIXCLR_DEVCLUSTER_DIR", "/var/tmp/fixclr-devcluster"))


def daemon_pids() -> dict[str, str]:
    pid_files = [*STATE_DIR.glob("pid/*.pid"), STATE_DIR / "munge" / "munged.pid",
                 STATE_DIR / "mariadb" / "mariadbd.pid"]
    return {path.stem: path.read_text().strip() for path in pid_files if path.is_file()}


def test_starting_a_running_dev_cluster_again_keeps_its_daemons():
    before = daemon_pids()
    if not before:
        pytest.skip(f"the answering cluster was not started by cluster/dev/start into {STATE_DIR}")
    subprocess.run([str(REPO / "cluster" / "dev" / "start")], check=True, capture_output=True, timeout=120)
    assert daemon_pids() == before
    assert {"mariadbd", "slurmdbd", "slurmctld", "slurmd"} <= set(before)  # munged: unless one already ran
    controllers = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True, text=True).stdout.split()
    assert controllers == [before["slurmctld"]]
    assert slurm_answers()
