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
    rows = [line.split() for line in output.splitlines() if "/runs/" in line and not line.startswith("FAILED")]
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
    assert "train.log" in out


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
