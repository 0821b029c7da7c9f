"""Exact resume after SIGKILL, checkpoint/config mismatch, `done` folders, NaN guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fixclr.checkpoint import CheckpointMismatchError
from fixclr.engine import NonFiniteLossError
from fixclr.methods import METHODS
from fixclr.train import run_fold

TIMING_KEYS = {"images_per_s"}


def _train_command(config_path: str, out_dir: Path) -> list[str]:
    return [sys.executable, "-m", "fixclr.cli", "train", "--config", config_path, f"out_dir={out_dir}"]


def _metrics(out: Path) -> list[dict]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]


# stream mode reads its batches from the shards in a DataLoader worker process
MODES = {"memory": {"data_mode": "memory"}, "stream": {"data_mode": "stream", "num_workers": 1}}


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_after_checkpoint_then_restart_gives_identical_result(fold_cfg, write_config, tmp_path, mode):
    cfg = {**fold_cfg, "method": "fixmatch", "regularizer": "fixclr", "steps": 40, "eval_every": 10,
           "checkpoint_every": 10, "ema_decay": 0.9, **MODES[mode]}
    config_path = write_config(cfg)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(_train_command(config_path, reference), check=True, capture_output=True, timeout=300)

    process = subprocess.Popen(_train_command(config_path, killed), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert process.poll() is None, "the run ended before writing a checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "done").exists() and not (killed / "result.json").exists()
    saved_step = torch.load(killed / "checkpoint.pt", weights_only=True)["trainer"]["step"]
    assert 0 < saved_step < 40

    restarted = subprocess.run(_train_command(config_path, killed), capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    resumed_from = int(restarted.stdout.split("resuming from step ")[1].split()[0])
    assert resumed_from >= saved_step  # the run may have checkpointed again before the kill landed

    want, got = json.loads((reference / "result.json").read_text()), json.loads((killed / "result.json").read_text())
    for key in ("acc_last", "acc_val", "acc_oracle", "val_acc_last", "best_val_step", "oracle_step", "config_hash"):
        assert got[key] == want[key], key
    assert _metrics(killed) == _metrics(reference)  # every evaluation, to the last digit


@pytest.mark.parametrize(("method", "mode"), [(m, "memory") for m in METHODS.names()] + [("fixmatch", "stream")])
def test_every_method_resumes_exactly_from_its_last_checkpoint(fold_cfg, method, mode, capsys):
    """In process: a finished run's checkpoint (step 4 of 6) replayed to the end reproduces every evaluation."""
    cfg = {**fold_cfg, "method": method, "regularizer": "fixclr", "steps": 6, "eval_every": 2, "checkpoint_every": 4,
           **MODES[mode]}
    out = Path(cfg["out_dir"])
    first = run_fold(cfg)
    reference = _metrics(out)
    (out / "done").unlink()
    (out / "result.json").unlink()
    capsys.readouterr()
    second = run_fold(cfg)
    assert "resuming from step 4" in capsys.readouterr().out
    assert _metrics(out) == reference
    assert {k: second[k] for k in ("acc_last", "acc_val", "acc_oracle")} == {k: first[k] for k in ("acc_last", "acc_val", "acc_oracle")}


def test_done_folder_is_never_retrained(fold_cfg):
    first = run_fold(fold_cfg)
    result_file = Path(fold_cfg["out_dir"]) / "result.json"
    stamp = result_file.stat().st_mtime_ns
    assert run_fold({**fold_cfg, "steps": 50}) == first
    assert result_file.stat().st_mtime_ns == stamp


def test_checkpoint_of_another_config_is_refused(fold_cfg):
    out = Path(fold_cfg["out_dir"])
    run_fold({**fold_cfg, "steps": 4, "checkpoint_every": 2})
    (out / "done").unlink()
    with pytest.raises(CheckpointMismatchError, match="another config"):
        run_fold({**fold_cfg, "steps": 4, "checkpoint_every": 2, "lr": 0.1})


def test_non_finite_loss_stops_naming_the_step(fold_cfg, write_config, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss at step \d+"):
        run_fold({**fold_cfg, "lr": 1e30, "steps": 10})
    command = _train_command(write_config({**fold_cfg, "lr": 1e30, "steps": 10}), tmp_path / "cli")
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2 and "non-finite training loss at step" in completed.stderr
    assert not (tmp_path / "cli" / "result.json").exists()
