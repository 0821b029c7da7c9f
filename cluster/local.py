"""``cluster: local``: a fold trains as a detached ``fixclr train --config fold.yaml`` process on
this machine, logging to ``<run_dir>/train.log``; killing the launcher leaves it running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from cluster.folds import LaunchTarget

LOG_NAME = "train.log"


def train_command(fold_yaml: Path) -> list[str]:
    """The command that trains a fold (it resumes from the fold's checkpoint by itself)."""
    return [sys.executable, "-m", "fixclr.cli", "train", "--config", str(fold_yaml)]


def start_local(target: LaunchTarget) -> tuple[subprocess.Popen, dict]:
    """Start the fold's training process in its own session; returns it and its launch attempt."""
    target.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = target.run_dir / LOG_NAME
    env = {**os.environ, "OMP_NUM_THREADS": str(target.launch["cpus_per_task"])}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            train_command(target.fold_yaml), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )
    return process, {"pid": process.pid, "host": socket.gethostname(), "log": str(log_path)}


def local_process_alive(attempt: dict, fold_yaml: Path) -> bool | None:
    """Whether the attempt's process still runs: None when it ran on another host (unknowable here).

    A pid is only trusted while its command line still names the fold's spec (pids are reused),
    and a zombie counts as ended.
    """
    if attempt.get("host") != socket.gethostname():
        return None
    proc = Path("/proc", str(attempt["pid"]))
    try:
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return not zombie and str(fold_yaml).encode() in cmdline
