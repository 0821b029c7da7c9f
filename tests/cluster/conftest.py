"""Fixtures of the launcher tests: tiny fold specs on the real demo data, and the dev SLURM cluster.

Tests marked ``cluster`` need a running dev cluster (``cluster/dev/install && cluster/dev/start``).
Without one they skip, except under ``CI=true``, where a cluster that does not answer fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from cluster.slurm import slurm_answers
from cluster_helpers import TINY_LAUNCH, TINY_TRAIN


@pytest.fixture(scope="session")
def dev_cluster() -> None:
    """The dev SLURM cluster answers (sinfo and sacct), else skip (or fail under CI=true)."""
    if slurm_answers():
        return
    message = ("no dev SLURM cluster answers (sinfo/sacct); start one with "
               "`cluster/dev/install && cluster/dev/start`")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _needs_dev_cluster(request) -> None:
    if request.node.get_closest_marker("cluster"):
        request.getfixturevalue("dev_cluster")


@pytest.fixture
def make_fold(prepared_demo, tmp_path):
    """Write ``tmp_path/runs/<name>/fold.yaml`` for a tiny fold on the demo data; returns its path.

    Every test gets its own submitit folder: SLURM job ids restart at 1 when the dev cluster's
    state is wiped, and submitit names its files by job id.
    """

    def make(name: str, cluster: str = "slurm", train: dict | None = None, launch: dict | None = None) -> Path:
        run_dir = tmp_path / "runs" / name
        spec = {
            "train": {"manifest": str(prepared_demo.manifest), "split": str(prepared_demo.split),
                      "out_dir": str(run_dir), **TINY_TRAIN, **(train or {})},
            "launch": {"cluster": cluster, "submitit_folder": str(tmp_path / "submitit"), **TINY_LAUNCH,
                       **(launch or {})},
        }
        run_dir.mkdir(parents=True)
        path = run_dir / "fold.yaml"
        path.write_text(yaml.safe_dump(spec))
        return path

    return make
