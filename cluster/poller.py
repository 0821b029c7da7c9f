"""One poller per sweep: the workflow's waiting folds cost no Python interpreter and SLURM is asked
once per interval for all of them.

``fixclr submit --watch`` sorts folds as usual (skip done, re-attach to a queued or running job;
local folds start at once), then hands each one to its sweep's poller: a file in
``<submitit_folder>/watch/``. The poller (one process per submitit folder, elected by an flock on
``<submitit_folder>/poller.lock``; started by the first watch, exiting when nothing is left to
watch) submits the SLURM folds handed over since its last round in one wave (one job array per
group of equal launch settings), asks SLURM about every watched fold in one query per ``poll_s``
and, when a fold has ended without ``done``, writes the fold's ``failed`` marker (the reason and
the log's last lines). The workflow's train rule, ``cluster/await_fold.sh``, writes a SLURM
fold's watch entry itself (no Python per fold; the poller then skips, re-attaches or submits it)
and waits in a shell loop on ``done`` / ``failed`` that also restarts the poller if it is gone.
Nothing here cancels a job: a killed workflow leaves jobs and poller running, and the next run
re-attaches.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from cluster.folds import LaunchTarget, locked, read_fold
from cluster.launcher import SubmissionError, submit_slurm
from cluster.slurm import SlurmQueryError
from cluster.status import failure_report, fold_statuses
from fixclr.errors import ArgumentParser, run_main
from fixclr.io import atomic_write_json, atomic_write_text

WATCH_DIR = "watch"
LOCK_NAME = "poller.lock"
LOG_NAME = "poller.log"
FAILED_FILE = "failed"
# The poller exits after this many polls in a row with nothing to watch.
IDLE_POLLS = 3
# A new poller waits this long before its first round, for the folds handed over with the first.
FIRST_WAVE_S = 1.0
# After a round that failed (SLURM not answering, or an unexpected error) the poller retries after this.
RETRY_S = 10.0


def _folder(target: LaunchTarget) -> Path:
    return Path(target.launch["submitit_folder"]).resolve()


def watch(targets: list[LaunchTarget], to_submit: list[LaunchTarget] = ()) -> None:
    """Hand folds to their sweep's poller (clearing an old ``failed`` marker): those in ``to_submit``
    for the poller to submit with its next wave, the others already launched; and make sure a
    poller runs for each of their submitit folders."""
    submit = {target.fold_yaml for target in to_submit}
    for target in targets:
        (target.run_dir / FAILED_FILE).unlink(missing_ok=True)
        fold_yaml = str(target.fold_yaml.resolve())
        entry = _folder(target) / WATCH_DIR / (hashlib.sha1(fold_yaml.encode()).hexdigest() + ".json")
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(entry, {"fold_yaml": fold_yaml, "cwd": os.getcwd(), "submit": target.fold_yaml in submit})
    for folder in sorted({_folder(target) for target in targets}):
        ensure_poller(folder)


def poller_running(folder: Path) -> bool:
    """Whether a poller holds the folder's lock."""
    path = folder / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def ensure_poller(folder: Path) -> None:
    """Start the folder's poller as a detached process unless one runs (two racing starts are
    harmless: the second poller finds the lock taken and exits)."""
    if poller_running(folder):
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOG_NAME, "ab") as log:
        subprocess.Popen([sys.executable, "-m", "cluster.poller", str(folder)], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _watched(folder: Path) -> dict[Path, tuple[LaunchTarget, dict]]:
    """Watch entry -> its fold (with an absolute run folder: entries name the directory they came
    from) and the entry's record."""
    targets = {}
    for entry in sorted((folder / WATCH_DIR).glob("*.json")):
        try:
            record = json.loads(entry.read_text())
            target = read_fold(record["fold_yaml"])
        except (OSError, ValueError, KeyError) as error:
            print(f"dropping {entry.name}: {error}", flush=True)
            entry.unlink(missing_ok=True)
            continue
        targets[entry] = (dataclasses.replace(target, run_dir=Path(record["cwd"], target.run_dir)), record)
    return targets


def _fail(target: LaunchTarget, lines: list[str]) -> None:
    atomic_write_text(target.run_dir / FAILED_FILE, "\n".join(lines) + "\n")
    print(lines[0], flush=True)


def submit_wave(entries: dict[Path, tuple[LaunchTarget, dict]]) -> None:
    """Submit the folds handed over since the last round: one job array per group of equal launch
    settings (cluster.launcher.submit_slurm), from the directory they were handed over in (their
    relative paths are relative to it), re-checked under the folds' locks so that a fold another
    launcher has launched meanwhile is not submitted twice."""
    by_cwd: dict[str, list[Path]] = {}
    for entry, (_, record) in entries.items():
        by_cwd.setdefault(record["cwd"], []).append(entry)
    for cwd, group in by_cwd.items():
        targets = [entries[entry][0] for entry in group]
        os.chdir(cwd)
        with locked(targets):
            statuses = fold_statuses(targets)
            wanted = [s.target for s in statuses if s.state != "done" and not s.active]
            try:
                for target, job_id in zip(wanted, submit_slurm(wanted) if wanted else []):
                    print(f"submitted: {target.name}: job {job_id}", flush=True)
            except SubmissionError as error:
                for target in wanted:
                    _fail(target, [f"FAILED: {target.name}: {error}"])
                for entry in group:
                    entry.unlink(missing_ok=True)
                continue
        for entry in group:
            atomic_write_json(entry, {**entries[entry][1], "submit": False})


def poll_once(folder: Path) -> tuple[int, float]:
    """One round: submit the folds handed over for submission (one wave), then one SLURM query for
    every launched fold; ``failed`` markers for those that ended without ``done``, their entries
    removed. Returns the folds still watched and the next interval."""
    watched = _watched(folder)
    if not watched:
        return 0, 1.0
    poll_s = min(target.launch["poll_s"] for target, _ in watched.values())
    to_submit = {entry: item for entry, item in watched.items() if item[1].get("submit")}
    if to_submit:
        submit_wave(to_submit)
    launched = {entry: target for entry, (target, record) in watched.items() if not record.get("submit")}
    left = len(to_submit)
    for entry, status in zip(launched, fold_statuses(list(launched.values()))):
        if status.active:
            left += 1
            continue
        if status.state != "done":
            _fail(status.target, failure_report([status]) or [f"FAILED: {status.target.name}: {status.state}"])
        entry.unlink(missing_ok=True)
    return left, poll_s


def run(folder: Path) -> int:
    """The poller's loop; returns at once when another poller holds the lock."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        print(f"poller {os.getpid()} watching {folder / WATCH_DIR}", flush=True)
        time.sleep(FIRST_WAVE_S)  # folds handed over together go out together
        idle = 0
        while idle < IDLE_POLLS:
            try:
                left, poll_s = poll_once(folder)
            except SlurmQueryError as error:  # SLURM restarting: keep waiting, the jobs are safe
                print(f"warning: {error}; retrying", flush=True)
                left, poll_s = 1, RETRY_S
            except Exception:  # noqa: BLE001 - a dead poller strands every waiting fold; log and go on
                print(f"warning: this round failed; retrying in {RETRY_S:.0f}s\n{traceback.format_exc()}", flush=True)
                left, poll_s = 1, RETRY_S
            idle = 0 if left else idle + 1
            time.sleep(poll_s)
        print(f"poller {os.getpid()}: nothing left to watch", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m cluster.poller SUBMITIT_FOLDER``: run the folder's poller (it exits at once when
    another one runs)."""
    parser = ArgumentParser(prog="python -m cluster.poller", description=main.__doc__)
    parser.add_argument("folder", type=Path, help="a sweep's submitit folder")
    return run(parser.parse_args(argv).folder.resolve())


if __name__ == "__main__":
    raise SystemExit(run_main("python -m cluster.poller", main, sys.argv[1:]))
