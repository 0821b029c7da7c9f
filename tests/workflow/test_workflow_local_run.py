"""The tiny config (.test/config/config.yaml) through real Snakemake, locally: real data prep, real
training through `fixclr submit`, real Parquet tables; then one fold retrained alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from workflow_helpers import job_counts, snakemake

FOLD_IDS = [f"digits-dg-mini/cnn/{variant}/{target}/n5/s0"
            for variant in ("erm", "fixmatch+fixclr") for target in ("mono", "photo")]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A working directory where `snakemake --cores 2` ran the tiny sweep to the end."""
    workdir = tmp_path_factory.mktemp("tiny")
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert job_counts(run.stdout + run.stderr)["train"] == 4
    return workdir


def test_tables_rows_match_the_result_files(finished):
    runs = finished / "results" / "runs"
    folds = pd.read_parquet(finished / "results" / "tables" / "folds.parquet").set_index("fold_id")
    assert sorted(folds.index) == sorted(FOLD_IDS)
    for fold_id, row in folds.iterrows():
        result = json.loads((runs / fold_id / "result.json").read_text())
        assert (runs / fold_id / "done").is_file()
        for key in ("acc_last", "acc_val", "acc_oracle", "target_domain", "ssl_method", "regularizer", "seed",
                    "steps", "config_hash", "git_commit"):
            assert row[key] == result[key], (fold_id, key)
        assert row["steps"] == 4
    summary = pd.read_parquet(finished / "results" / "tables" / "summary.parquet")
    assert sorted(summary["target_domain"].unique()) == ["avg", "mono", "photo"]
    assert set(summary["count"]) == {1}
    assert (finished / "results" / "report" / "summary.png").stat().st_size > 10_000
    assert "| erm |" in (finished / "results" / "report" / "summary.md").read_text()


def test_fixclr_results_answers_sql(finished):
    sql = "SELECT ssl_method, regularizer, count(*) AS n FROM folds GROUP BY ALL ORDER BY ssl_method"
    run = subprocess.run([sys.executable, "-m", "fixclr.cli", "results", "--tables", "results/tables", "--sql", sql,
                          "--format", "csv"], cwd=finished, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ssl_method,regularizer,n", "erm,none,2", "fixmatch,fixclr,2"]


def test_deleting_done_retrains_that_fold_only(finished):
    runs = finished / "results" / "runs"
    mtimes = {fold_id: (runs / fold_id / "result.json").stat().st_mtime_ns for fold_id in FOLD_IDS}
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(finished, "--cores", "2"))
    retrained = "digits-dg-mini/cnn/fixmatch+fixclr/photo/n5/s0"
    (runs / retrained / "done").unlink()
    run = snakemake(finished, "--cores", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert job_counts(run.stdout + run.stderr) == {"train": 1, "aggregate": 1, "report": 1, "all": 1}
    assert (runs / retrained / "done").is_file()
    assert (runs / retrained / "result.json").stat().st_mtime_ns > mtimes[retrained]
    assert all((runs / f / "result.json").stat().st_mtime_ns == mtimes[f] for f in FOLD_IDS if f != retrained)
    folds = pd.read_parquet(finished / "results" / "tables" / "folds.parquet")
    assert sorted(folds["fold_id"]) == sorted(FOLD_IDS)
