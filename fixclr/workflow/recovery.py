"""After a killed Snakemake (SIGKILL, a lost login session), the plain rerun just works.

A killed Snakemake leaves two things in its working directory's ``.snakemake``: its lock
(``locks/``: the next run refuses to start until ``snakemake --unlock``) and an "incomplete"
marker on the outputs of every job it was running (``incomplete/``: the next run refuses, and
with ``--rerun-incomplete`` deletes those outputs and reruns the jobs). A fold's trainer runs
detached and may well finish after Snakemake died: its ``result.json`` and ``done`` are then
complete, but marked incomplete, so ``--rerun-incomplete`` would delete and retrain it.

The Snakefile calls ``recover_after_kill`` in Snakemake's main process, before Snakemake looks at
its lock or markers. It holds ``.snakemake/fixclr-session.lock`` (``flock``) for the life of the
process; the kernel releases that lock when the process dies, also on SIGKILL. So when it is
free, no other Snakemake of this workflow runs in this directory, and then:

- Snakemake's locks are stale: removed (what ``snakemake --unlock`` does);
- a fold whose ``done`` and ``result.json`` exist, with the config hash of its current spec, is
  finished: its outputs' incomplete markers are removed, so it is neither refused nor retrained.

Snakemake's file persistence backend (the default) stores a marker at ``incomplete/`` + the
url-safe base64 of the output's path, split into parts no longer than the file system's name
limit (snakemake/persistence/file.py); tests/workflow/test_workflow_interrupted.py checks this
against the Snakemake installed.
"""

from __future__ import annotations

import fcntl
import json
import os
from base64 import urlsafe_b64encode
from pathlib import Path

from fixclr.sweep import Fold

SESSION_LOCK = "fixclr-session.lock"
_held = []  # the open session lock of this process (kept open: closing it would release it)


def _marker_path(incomplete_dir: Path, output: str) -> Path:
    """Snakemake's incomplete marker of ``output`` (FilePersistence._record_path)."""
    max_len = os.pathconf(incomplete_dir, "PC_NAME_MAX") or 255
    b64 = urlsafe_b64encode(output.encode()).decode()
    parts = [b64[i:i + max_len - 1] for i in range(0, len(b64), max_len - 1)]
    return incomplete_dir.joinpath(*["@" + part for part in parts[:-1]], parts[-1])


def fold_finished(fold: Fold) -> bool:
    """``done`` and ``result.json`` are there, and result.json was made with the fold's config."""
    from fixclr.config import config_hash, resolve

    result, done = fold.run_dir / "result.json", fold.run_dir / "done"
    if not (done.is_file() and result.is_file()):
        return False
    try:
        recorded = json.loads(result.read_text()).get("config_hash")
    except (OSError, ValueError):
        return False
    return recorded == config_hash(resolve(fold.spec["train"]))


def _hold_session_lock(state_dir: Path) -> bool:
    """Take this process's session lock; False while another Snakemake of this directory holds it."""
    if _held:
        return True
    state_dir.mkdir(exist_ok=True)
    handle = open(state_dir / SESSION_LOCK, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live Snakemake, or no flock on this file system: touch nothing
        handle.close()
        return False
    _held.append(handle)
    return True


def recover_after_kill(workdir: str | os.PathLike, folds: list[Fold], outputs: tuple[str, ...] = ("result.json", "done")) -> list[str]:
    """Clear what a killed Snakemake left (see the module docstring); returns what it did, one line each."""
    state_dir = Path(workdir, ".snakemake")
    if not _hold_session_lock(state_dir):
        return []
    done = []
    locks = [path for path in (state_dir / "locks").glob("*.lock")] if (state_dir / "locks").is_dir() else []
    for path in locks:
        path.unlink(missing_ok=True)
    if locks:
        done.append(f"removed {len(locks)} stale Snakemake lock(s) of a Snakemake that is no longer running")
    incomplete_dir = state_dir / "incomplete"
    if incomplete_dir.is_dir() and any(incomplete_dir.iterdir()):
        for fold in folds:
            markers = [_marker_path(incomplete_dir, f"{fold.run_dir}/{name}") for name in outputs]
            if any(marker.exists() for marker in markers) and fold_finished(fold):
                for marker in markers:
                    marker.unlink(missing_ok=True)
                done.append(f"{fold.run_dir} finished after Snakemake was stopped: kept (not retrained)")
    return done
