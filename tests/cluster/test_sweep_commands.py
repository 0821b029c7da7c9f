"""``fixclr status`` and ``fixclr resubmit --missing`` over a sweep config (local folds): the table
lists every fold of the sweep, and resubmission trains only the folds asked for."""

from __future__ import annotations

import argparse

import pytest
import yaml

from cluster.cli import _targets, resubmit_main, status_main
from cluster_helpers import TINY_LAUNCH, TINY_TRAIN
from fixclr.sweep import Fold, expand_folds, load_sweep, write_fold_spec


def write_sweep(tmp_path, prepared_demo) -> str:
    """A local sweep of 2 folds (targets mono and color) over the prepared demo data."""
    results = tmp_path / "results"
    for name, prepared in (("shards", prepared_demo.manifest), ("splits", prepared_demo.split)):
        (results / name).mkdir(parents=True)  # the sweep's layout, linked to the prepared data
        (results / name / "digits-dg-mini").symlink_to(prepared.parent)
    train = {key: value for key, value in TINY_TRAIN.items() if key not in ("target_domain", "method")}
    config = {
        "results_dir": str(results), "cluster": "local",
        "datasets": {"digits-dg-mini": {"demo": True, "image_size": [32, 32], "targets": ["mono", "color"]}},
        "sweep": {"variants": [{"method": "erm"}], "labels_per_class": [10], "seeds": [0]},
        "train": train, "launch": TINY_LAUNCH,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def table_rows(output: str) -> dict[str, str]:
    """Target domain -> state, from the status table's fold rows."""
    rows = [line.split() for line in output.splitlines() if line.split("  ")[0] in ("done", "not-started")]
    return {row[1].split("/")[-3]: row[0] for row in rows}


@pytest.mark.timeout(300)
def test_status_and_resubmit_missing_over_a_sweep(tmp_path, prepared_demo, capsys):
    sweep = write_sweep(tmp_path, prepared_demo)
    assert status_main(["--sweep", sweep]) == 0
    out = capsys.readouterr().out
    not_started = out.replace("not started", "not-started")
    assert table_rows(not_started) == {"mono": "not-started", "color": "not-started"}
    assert "2 folds: 0 done, 0 running, 0 pending, 0 failed, 2 not started" in out

    assert resubmit_main(["--sweep", sweep, "--failed"]) == 0  # nothing failed: nothing to do
    assert "nothing to resubmit" in capsys.readouterr().out

    assert resubmit_main(["--sweep", sweep, "--missing", "--wait"]) == 0
    capsys.readouterr()
    assert status_main(["--sweep", sweep]) == 0
    out = capsys.readouterr().out
    assert table_rows(out) == {"mono": "done", "color": "done"}
    row = next(line for line in out.splitlines() if "/mono/" in line)
    assert row.split()[:2] == ["done", "digits-dg-mini/cnn/erm/mono/n10/s0"]  # relative to the runs folder
    assert out.splitlines()[-1] == "2 folds: 2 done, 0 running, 0 pending, 0 failed, 0 not started"


def test_a_launched_fold_is_resubmitted_as_launched_not_as_the_bare_config_says(tmp_path, prepared_demo):
    """After `snakemake --profile slurm` (which sets cluster=slurm on top of the config file),
    `fixclr status/resubmit --sweep config.yaml` must take the fold as it was launched."""
    sweep = write_sweep(tmp_path, prepared_demo)
    launched, planned = expand_folds(load_sweep(sweep))
    spec = {**launched.spec, "launch": {**launched.spec["launch"], "cluster": "slurm", "partition": "gpu"}}
    write_fold_spec(Fold(run_dir=launched.run_dir, spec=spec))

    targets, _ = _targets(argparse.Namespace(sweep=sweep, fold_yamls=[]), argparse.ArgumentParser())
    launch = {target.run_dir: target.launch for target in targets}
    assert (launch[launched.run_dir]["cluster"], launch[launched.run_dir]["partition"]) == ("slurm", "gpu")
    assert launch[planned.run_dir]["cluster"] == "local"  # never launched: as the config file says


def test_status_table_groups_failures_by_reason_and_ends_with_the_counts(tmp_path):
    from pathlib import Path

    from cluster.cli import format_table
    from cluster.folds import LaunchTarget
    from cluster.status import FoldStatus

    runs = tmp_path / "runs"
    log = tmp_path / "submitit" / "7_0_log.out"
    log.parent.mkdir()
    log.write_text("step 3/8\nRuntimeError: CUDA out of memory\n")

    def status(name: str, state: str, detail: str = "") -> FoldStatus:
        target = LaunchTarget(Path(name, "fold.yaml"), runs / name, {})
        return FoldStatus(target, state, detail, log if state == "failed" else None)

    statuses = [status("a", "done", "job 1"), status("b", "failed", "OOM (job 7_0 OUT_OF_MEMORY)"),
                status("c", "failed", "CANCELLED (job 7_1 CANCELLED)"), status("d", "failed", "OOM (job 7_2 OUT_OF_MEMORY)"),
                status("e", "pending", "job 8 PENDING, Priority")]
    lines = format_table(statuses, runs)
    assert lines[0].split() == ["STATE", "FOLD", "DETAIL"] and lines[-2] == f"run folders under {runs}/"
    assert lines[1].split() == ["done", "a", "job", "1"]
    oom = lines.index("FAILED, OOM: 2 fold(s)")
    assert lines[oom + 1:oom + 5] == [f"  b  log {log}", f"  d  log {log}", "    step 3/8",
                                      "    RuntimeError: CUDA out of memory"]
    assert "FAILED, CANCELLED: 1 fold(s)" in lines[oom:]
    assert lines[-1] == "5 folds: 1 done, 0 running, 1 pending, 3 failed, 0 not started"
