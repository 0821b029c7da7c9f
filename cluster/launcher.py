"""Launch folds: SLURM jobs through submitit (one job, or one job array per group of folds with the
same resources), or local processes; re-attach to running ones, resubmit failed ones, wait.

Every decision reads the run folder (``done``, ``launch.json``) and SLURM's accounting, under a
lock on the fold's spec, so relaunching is always safe: a done fold is skipped, a pending/running
job is re-attached (never duplicated), a failed or lost one is resubmitted and the trainer resumes
from the fold's checkpoint. Nothing here cancels a job: killing the launcher leaves jobs running.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path
from typing import TextIO

import submitit
from submitit.core.utils import FailedJobError

from cluster.folds import FoldSpecError, LaunchTarget, locked, read_fold, record_attempt
from cluster.local import start_local
from cluster.slurm import SlurmQueryError, max_array_size
from cluster.status import FoldStatus, failure_report, fold_statuses
from fixclr.errors import UserError
from fixclr.sweep import SLURM_LAUNCH_ENV


# A waiting launcher rides out SLURM not answering (controller or slurmdbd restarting) this long.
QUERY_GRACE_S = 600


class SubmissionError(UserError, RuntimeError):
    """sbatch refused a job; the message names the folds and quotes SLURM."""


class FoldJob(submitit.helpers.Checkpointable):
    """The body of a fold's SLURM job (every task runs it): join DDP when the job has several
    tasks (one per GPU; NCCL on GPUs, gloo on CPU, chosen by the trainer), then train.

    Checkpointable: on SLURM's USR2 warning before the time limit, or on preemption, submitit
    requeues the job (at most ``max_timeouts`` times for time limits); the requeued job calls this
    again and the trainer resumes from the fold's last ``checkpoint.pt``.
    """

    def __call__(self, fold_yaml: str) -> dict:
        from fixclr import config as fold_config
        from fixclr.train import run_fold

        if submitit.JobEnvironment().num_tasks > 1:
            # SLURM already limits CUDA_VISIBLE_DEVICES to the job's GPUs; the trainer picks
            # cuda:LOCAL_RANK among them.
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return run_fold(fold_config.load(fold_yaml))


def extra_sbatch_parameters(lines: list[str], where: str) -> dict:
    """``["--mail-type=FAIL", "--exclusive"]`` -> submitit's additional_parameters."""
    parameters = {}
    for index, line in enumerate(lines):
        flag = line.removeprefix("#SBATCH").strip()
        if not flag.startswith("--") or len(flag) < 3:
            raise FoldSpecError(f"{where}: launch.extra_sbatch[{index}]: {line!r} is not a long sbatch option "
                             "like --mail-type=FAIL")
        key, has_value, value = flag[2:].partition("=")
        parameters[key] = value if has_value else True
    return parameters


def job_name(run_dir: Path) -> str:
    """The SLURM job name of a fold: ``fixclr:`` and the tail of its run folder."""
    return "fixclr:" + "/".join(run_dir.parts[-6:]).lstrip("/")


def slurm_executor(target: LaunchTarget) -> submitit.SlurmExecutor:
    """A submitit executor whose sbatch resources are exactly the fold's launch settings."""
    launch = target.launch
    gpus = launch["gpus_per_node"]
    executor = submitit.SlurmExecutor(folder=launch["submitit_folder"], max_num_timeout=launch["max_timeouts"])
    parameters = {
        "job_name": job_name(target.run_dir),
        "time": launch["time_min"],
        "nodes": launch["nodes"],
        "ntasks_per_node": gpus or launch["tasks_per_node"],
        "cpus_per_task": launch["cpus_per_task"],
        "mem": f"{math.ceil(launch['mem_gb'] * 1024)}MB",
        "stderr_to_stdout": True,
        "setup": [f"export OMP_NUM_THREADS={launch['cpus_per_task']}"],
        "additional_parameters": extra_sbatch_parameters(launch["extra_sbatch"], str(target.fold_yaml)),
        "array_parallelism": launch["array_throttle"],
    }
    if gpus:
        parameters["gpus_per_node"] = gpus
    parameters.update({key: launch[key] for key in ("partition", "account", "qos", "constraint") if launch[key]})
    executor.update_parameters(**parameters)
    return executor


def submit_slurm(targets: list[LaunchTarget]) -> list[str]:
    """Submit folds, one job array per group of equal launch settings (split at the cluster's
    MaxArraySize; at most ``array_throttle`` tasks running at once), named after the group's common
    run folder; records each job in its fold's ``launch.json``; returns the job ids in order."""
    groups: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        groups.setdefault(repr(sorted(target.launch.items())), []).append(index)
    chunk = max_array_size() if any(len(group) > 1 for group in groups.values()) else 1
    job_ids = [""] * len(targets)
    for group in [group[i:i + chunk] for group in groups.values() for i in range(0, len(group), chunk)]:
        executor = slurm_executor(targets[group[0]])
        if len(group) > 1:
            common = os.path.commonpath([targets[index].run_dir.resolve() for index in group])
            executor.update_parameters(job_name=job_name(Path(common)))
        try:
            with executor.batch():
                jobs = [executor.submit(FoldJob(), str(targets[index].fold_yaml)) for index in group]
        except FailedJobError as error:
            names = ", ".join(str(targets[index].fold_yaml) for index in group)
            raise SubmissionError(f"sbatch refused {names}:\n{str(error).strip()}") from error
        for index, job in zip(group, jobs):
            record_attempt(targets[index], {"job_id": job.job_id, "log": str(job.paths.stdout)})
            job_ids[index] = job.job_id
    return job_ids


def refuse_local_under_slurm_executor(target: LaunchTarget) -> None:
    """Under Snakemake's SLURM executor a fold never trains on this (login) node: a fold.yaml
    written as ``cluster: local`` by an earlier local run is an error, not a local process."""
    if os.environ.get(SLURM_LAUNCH_ENV):
        raise SubmissionError(f"{target.fold_yaml}: launch.cluster is local, but Snakemake runs with the SLURM "
                              "executor: delete this fold.yaml so that the workflow rewrites it for SLURM")


class Launcher:
    """Launches a set of folds and, when asked, waits for them (``fixclr submit``)."""

    def __init__(self, fold_yamls: list[str | os.PathLike], out: TextIO | None = None):
        self.targets = [read_fold(path) for path in fold_yamls]
        self.out = out or sys.stdout
        self.local_queue: list[LaunchTarget] = []
        self.local_children = []  # our own processes, reaped as they end
        self.deferred: list[LaunchTarget] = []  # SLURM folds left to the poller (launch(defer_slurm=True))
        self.last_states: dict[str, str] = {}
        self.unanswered_since: float | None = None

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def launch(self, defer_slurm: bool = False) -> None:
        """Submit every fold that is neither done nor pending/running; re-attach to the others.
        With ``defer_slurm``, SLURM folds to submit are only collected in ``self.deferred`` (the
        sweep's poller submits them in waves: one array per group of equal launch settings)."""
        with locked(self.targets):
            to_slurm = []
            for status in fold_statuses(self.targets):
                target = status.target
                if status.state == "done":
                    self.say(f"done: {target.name} (not relaunched)")
                elif status.active:
                    self.say(f"re-attached: {target.name}: {status.detail}")
                elif target.launch["cluster"] == "slurm":
                    if status.state == "failed":
                        self.say(f"resubmitting: {target.name}: was {status.detail}")
                    to_slurm.append(target)
                else:
                    refuse_local_under_slurm_executor(target)
                    if status.state == "failed":
                        self.say(f"restarting: {target.name}: was {status.detail}")
                    self.local_queue.append(target)
            if defer_slurm:
                self.deferred = to_slurm
                for target in to_slurm:
                    self.say(f"handed to the sweep's poller for submission: {target.name}")
            for target, job_id in zip(to_slurm, submit_slurm(to_slurm) if to_slurm and not defer_slurm else []):
                self.say(f"submitted: {target.name}: job {job_id}")
        self._start_local()

    def _local_slots(self) -> int:
        """Local processes may start until their CPUs fill this machine's cores."""
        running = [child for child in self.local_children if child.poll() is None]
        self.local_children = running
        cpus = max(t.launch["cpus_per_task"] for t in self.local_queue)
        return max(1, (os.cpu_count() or 1) // cpus) - len(running)

    def _start_local(self) -> None:
        while self.local_queue and self._local_slots() > 0:
            target = self.local_queue.pop(0)
            with locked([target]):  # another launcher may have started it meanwhile
                status = fold_statuses([target])[0]
                if status.state == "done" or status.active:
                    self.say(f"{status.state}: {target.name} (started elsewhere)")
                    continue
                process, attempt = start_local(target)
                record_attempt(target, attempt)
            self.local_children.append(process)
            self.say(f"started: {target.name}: pid {process.pid}, log {attempt['log']}")

    def _poll(self) -> list[FoldStatus] | None:
        """The folds' statuses, or None while SLURM does not answer (for up to QUERY_GRACE_S)."""
        try:
            statuses = fold_statuses(self.targets)
        except SlurmQueryError as error:
            self.unanswered_since = self.unanswered_since or time.monotonic()
            if time.monotonic() - self.unanswered_since > QUERY_GRACE_S:
                raise
            self.say(f"warning: {error}; retrying")
            return None
        self.unanswered_since = None
        for status in statuses:  # log each change of state
            if self.last_states.setdefault(status.target.name, status.state) != status.state:
                self.last_states[status.target.name] = status.state
                self.say(f"{status.state}: {status.target.name}: {status.detail}")
        return statuses

    def wait(self, keep_waiting: bool = True) -> list[FoldStatus]:
        """Poll (every ``poll_s``, jittered so many waiting launchers spread their sacct calls)
        until all local folds started and, with ``keep_waiting``, every fold ended."""
        poll_s = min(t.launch["poll_s"] for t in self.targets)
        while True:
            self._start_local()
            statuses = self._poll()
            if statuses and not self.local_queue and not (keep_waiting and any(s.active for s in statuses)):
                return statuses
            time.sleep(poll_s * random.uniform(0.8, 1.2))


def submit(fold_yamls: list[str | os.PathLike], wait: bool = False, out: TextIO | None = None,
           watch: bool = False) -> int:
    """Launch folds (see the module docstring); with ``wait``, block until all end; with ``watch``,
    hand the launched folds to their sweep's poller (cluster/poller.py) and return.
    Returns 0, or 1 when waiting and a fold failed."""
    launcher = Launcher(fold_yamls, out=out)
    launcher.launch(defer_slurm=watch)
    if wait or launcher.local_queue:
        statuses = launcher.wait(keep_waiting=wait)
    if watch:
        from cluster.poller import watch as hand_to_poller

        hand_to_poller([target for target in launcher.targets if not target.done], launcher.deferred)
    if not wait:
        return 0
    report = failure_report(statuses)
    for line in report or [f"all {len(statuses)} fold(s) done"]:
        launcher.say(line)
    return 1 if report else 0
