"""The tiny sweep through real Snakemake, locally, into a results_dir with a space and a non-ASCII
letter: it runs to the tables; a changed input (data.val_fraction) retrains every fold from step 0
on the new split; and after Snakemake is stopped mid-sweep (SIGKILL, a lost login session, Ctrl-C)
while its detached trainers finish, the plain rerun neither needs --unlock nor retrains a finished
fold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import REPO, SNAKEMAKE, TINY_CONFIG, job_counts, snakemake, write_config

from cluster.folds import read_fold
from cluster.status import fold_statuses
from fixclr.run_lock import lock_holder

RESULTS = "résultats tiny"  # a space and a non-ASCII letter
FOLD_IDS = [f"digits-dg-mini/cnn/{variant}/{target}/n5/s0"
            for variant in ("erm", "fixmatch+fixclr") for target in ("mono", "photo")]

pytestmark = pytest.mark.slow


def _config(workdir: Path, train: dict | None = None, variants: list | None = None, **data) -> Path:
    tiny = yaml.safe_load(TINY_CONFIG.read_text())
    sweep = {**tiny["sweep"], "variants": variants or tiny["sweep"]["variants"]}
    return write_config(workdir / "sweep.yaml", results_dir=RESULTS, data=data, train={**tiny["train"], **(train or {})},
                        sweep=sweep)


def _copy(workdir: Path, to: Path) -> Path:
    """A copy of a working directory (modification times kept, so Snakemake sees the same state)."""
    shutil.copytree(workdir, to, symlinks=True, dirs_exist_ok=True)
    return to


def _output(run: subprocess.CompletedProcess) -> str:
    return run.stdout + run.stderr


def _steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A working directory where Snakemake prepared the tiny sweep's data (demo images, shards, split)."""
    workdir = tmp_path_factory.mktemp("prepared")
    split = f"{RESULTS}/splits/digits-dg-mini/n5_s0.json"
    run = snakemake(workdir, "--cores", "2", split, configfile=_config(workdir))
    assert run.returncode == 0, _output(run)[-4000:]
    return workdir


@pytest.fixture(scope="module")
def swept(prepared, tmp_path_factory) -> Path:
    """A working directory where `snakemake --cores 2` ran the tiny sweep to the end."""
    workdir = _copy(prepared, tmp_path_factory.mktemp("swept"))
    run = snakemake(workdir, "--cores", "2", configfile=_config(workdir))
    assert run.returncode == 0, _output(run)[-4000:]
    assert job_counts(_output(run))["train"] == 4
    return workdir


def test_results_dir_with_a_space_and_a_non_ascii_letter_runs_to_the_tables(swept):
    results = swept / RESULTS
    folds = pd.read_parquet(results / "tables" / "folds.parquet")
    assert sorted(folds["fold_id"]) == sorted(FOLD_IDS)
    assert (results / "report" / "summary.png").stat().st_size > 10_000
    assert all((results / "runs" / fold_id / "done").is_file() for fold_id in FOLD_IDS)


def test_changed_val_fraction_retrains_every_fold_from_step_0_on_the_new_split(swept):
    runs = swept / RESULTS / "runs"
    logged = {fold_id: (runs / fold_id / "train.log").stat().st_size for fold_id in FOLD_IDS}
    run = snakemake(swept, "--cores", "2", configfile=_config(swept, val_fraction=0.2))
    assert run.returncode == 0, _output(run)[-4000:]
    assert job_counts(_output(run))["train"] == 4
    for fold_id in FOLD_IDS:
        with open(runs / fold_id / "train.log", "rb") as log:
            log.seek(logged[fold_id])
            new_log = log.read().decode()
        assert "inputs changed since the checkpoint: split sha256 " in new_log, fold_id
        assert "starting from step 0" in new_log and "resuming" not in new_log
        assert "step 2/4" in new_log and "step 4/4" in new_log
        assert _steps(runs / fold_id) == [2, 4]  # nothing of the old run's metrics
    folds = pd.read_parquet(swept / RESULTS / "tables" / "folds.parquet")
    assert sorted(folds["fold_id"]) == sorted(FOLD_IDS)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("how", "group"), [("SIGKILL", False), ("SIGHUP", True), ("SIGINT", True)],
                         ids=["sigkill", "lost-login-session", "ctrl-c"])
def test_stopped_snakemake_then_plain_rerun_keeps_every_finished_fold(prepared, tmp_path, monkeypatch, how, group):
    _copy(prepared, tmp_path)
    runs = tmp_path / RESULTS / "runs"
    fold_ids = [f for f in FOLD_IDS if "/erm/" in f]  # two folds, both training at once with --cores 2
    # long enough that Snakemake is stopped while a trainer holds its run folder
    config = _config(tmp_path, train={"steps": 60, "eval_every": 30, "checkpoint_every": 30}, variants=[{"method": "erm"}])
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--configfile", str(config),
               "--directory", str(tmp_path), "--cores", "2"]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: any(lock_holder(runs / f) for f in fold_ids), 600, "a trainer to start")
    finally:
        # SIGKILL hits Snakemake alone; a lost session (SIGHUP) and Ctrl-C (SIGINT) its whole process group
        signal_number = getattr(signal, how)
        os.killpg(first.pid, signal_number) if group else os.kill(first.pid, signal_number)
        stopped_at = time.time()
        first.wait(timeout=120)  # after Ctrl-C, Snakemake takes a while to stop its jobs
    monkeypatch.chdir(tmp_path)  # the folds' paths are relative to Snakemake's working directory
    targets = [read_fold(runs / f / "fold.yaml") for f in fold_ids if (runs / f / "fold.yaml").is_file()]
    _wait_for(lambda: not any(s.active for s in fold_statuses(targets)), 300, "the detached trainers")
    finished = {f: {name: (runs / f / name).read_bytes() for name in ("result.json", "metrics.jsonl", "train.log")}
                for f in fold_ids if (runs / f / "done").is_file()}
    after_stop = [f for f in finished if (runs / f / "done").stat().st_mtime > stopped_at]
    assert after_stop, "no trainer finished after Snakemake was stopped: the test proved nothing"
    mtimes = {f: (runs / f / "result.json").stat().st_mtime_ns for f in finished}

    run = snakemake(tmp_path, "--cores", "2", configfile=config)  # the plain rerun
    assert run.returncode == 0, _output(run)[-4000:]
    counts = job_counts(_output(run))
    assert counts.get("train", 0) == len(fold_ids) - len(finished)
    for fold_id, files in finished.items():
        for name, content in files.items():
            assert (runs / fold_id / name).read_bytes() == content, (fold_id, name)
        assert (runs / fold_id / "result.json").stat().st_mtime_ns == mtimes[fold_id]
    if how != "SIGINT":  # Ctrl-C lets Snakemake clean up: nothing is left to recover
        for fold_id in after_stop:
            assert f"{runs.relative_to(tmp_path) / fold_id} finished after Snakemake was stopped" in run.stderr
    assert all((runs / f / "done").is_file() and _steps(runs / f) == [30, 60] for f in fold_ids)
    folds = pd.read_parquet(tmp_path / RESULTS / "tables" / "folds.parquet")
    assert sorted(folds["fold_id"]) == sorted(fold_ids)
