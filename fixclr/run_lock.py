"""The exclusive lock of a run folder: ``<run_dir>/train.lock``, held (``flock``) by the trainer for
its whole run, so that two trainers never write one folder. The file names its holder (host, pid).

``flock`` locks are released by the kernel when the holder dies (also on SIGKILL), so a lock is
never stale. They work on local disks, on Lustre mounted with ``-o flock``, and on NFSv4; on NFS
mounted with ``local_lock=flock`` (or ``nolock``) a lock only excludes processes of the same host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from fixclr.errors import UserError

LOCK_NAME = "train.lock"
RETRY_S = 1.0  # a launcher's probe holds the lock for microseconds: ride it out, then give up
# A trainer's DataLoader workers (forked) share its lock; when the trainer is killed they exit
# within torch's 5 s parent check, so a lock whose named holder is dead here is waited for this long.
ORPHANED_WORKERS_S = 15.0


class RunFolderBusyError(UserError):
    """Another trainer holds the run folder's lock; the message names it (host, pid)."""


def _try_lock(handle, mode: int, retry_s: float) -> bool:
    deadline = time.monotonic() + retry_s
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _holder_died_here(path: Path) -> bool:
    """Whether the lock file names a process of this host that no longer exists."""
    words = _holder_text(path).split()
    if len(words) != 4 or words[0] != "pid" or not words[1].isdigit() or words[3] != socket.gethostname():
        return False
    try:
        os.kill(int(words[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _holder_text(path: Path) -> str:
    text = path.read_text(errors="replace").strip() if path.is_file() else ""
    return text or "an unknown process"


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path):
    """Hold ``run_dir``'s lock for the ``with`` block; RunFolderBusyError at once if another holds it."""
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if not _try_lock(handle, fcntl.LOCK_EX, RETRY_S) and not (
                _holder_died_here(path) and _try_lock(handle, fcntl.LOCK_EX, ORPHANED_WORKERS_S)):
            raise RunFolderBusyError(f"{run_dir} is being trained by {_holder_text(path)} (lock {path}); "
                                     "wait for it to finish, or stop that process")
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield


def lock_holder(run_dir: str | Path) -> str | None:
    """``pid N on HOST`` while a trainer holds ``run_dir``'s lock, else None (also on a file system
    without working ``flock``: then only launch.json tells)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        with open(path, "rb") as handle:
            if _try_lock(handle, fcntl.LOCK_SH, 0.0):
                return None
    except OSError:
        return None
    return _holder_text(path)
