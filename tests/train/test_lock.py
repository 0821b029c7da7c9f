"""The run folder's lock: a second real `fixclr train` on a folder being trained exits at once (exit
code 2, one line naming the holder), and the launcher sees the holder as running (never starts a
second trainer); SIGKILL of the holder releases the lock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from cluster.folds import read_fold
from cluster.launcher import submit
from cluster.status import fold_statuses
from fixclr.run_lock import lock_holder


def _train(fold_yaml) -> list[str]:
    return [sys.executable, "-m", "fixclr.cli", "train", "--config", str(fold_yaml)]


@pytest.mark.timeout(300)
def test_second_trainer_exits_naming_the_holder_and_the_launcher_reattaches(fold_cfg, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    fold_yaml = run_dir / "fold.yaml"
    train = {**fold_cfg, "steps": 1_000_000, "eval_every": 1_000_000, "checkpoint_every": 1_000_000}
    fold_yaml.write_text(yaml.safe_dump({"train": train, "launch": {"cluster": "local", "poll_s": 1}}))
    first = subprocess.Popen(_train(fold_yaml), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while lock_holder(run_dir) is None:
            assert first.poll() is None and time.monotonic() < deadline, "the first trainer never took the lock"
            time.sleep(0.1)
        holder = f"pid {first.pid} on {socket.gethostname()}"
        assert lock_holder(run_dir) == holder

        second = subprocess.run(_train(fold_yaml), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"fixclr train: error: {run_dir} is being trained by {holder} (lock {run_dir / 'train.lock'}); "
            "wait for it to finish, or stop that process"]
        assert not (run_dir / "metrics.jsonl").exists() or (run_dir / "metrics.jsonl").read_text() == ""

        (status,) = fold_statuses([read_fold(fold_yaml)])
        assert (status.state, status.detail) == ("running", f"{holder} (holds {run_dir / 'train.lock'})")
        capsys.readouterr()
        assert submit([fold_yaml], wait=False) == 0
        assert f"re-attached: {run_dir}: {holder}" in capsys.readouterr().out
        assert not (run_dir / "launch.json").exists()  # no second trainer was started
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert lock_holder(run_dir) is None  # the kernel released it with the killed process
    assert fold_statuses([read_fold(fold_yaml)])[0].state == "not started"
