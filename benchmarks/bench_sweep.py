"""Login-node cost of a sweep under ``snakemake --profile slurm`` on the dev SLURM cluster, at two sizes.

For each size: a tiny sweep of that many folds (the demo data, 4 targets x N/4 ERM variants, one
seed) runs with the shipped profile and no extra flags but the dev cluster's 1-second executor
polls; its fold jobs carry ``--begin=now+2hours``, so they all stay pending and burn no CPU. Once
every fold is in the queue (``squeue``), the login-node side is sampled for ``--sample-s`` seconds:
processes and total RSS of Snakemake's process tree plus the sweep's poller, and ``sbatch`` /
``sacct`` / ``squeue`` calls per minute, counted by logging shims put first on the PATH. Then one
Ctrl-C (SIGINT to Snakemake's process group, as a terminal sends it) stops Snakemake (its exit
time is reported; the poller lives in its own session and goes on) and the benchmark scancels its
own jobs. Both
sizes share one working directory, so the data is prepared once (by the first size's run).

    .venv/bin/python benchmarks/bench_sweep.py [--folds 48 200] [--sample-s 60] [--poll-s 10] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SHIMMED = ("sbatch", "sacct", "squeue")


def write_shims(folder: Path, log: Path) -> None:
    """``sbatch``/``sacct``/``squeue`` that log one line per call, then run the real command."""
    folder.mkdir(parents=True, exist_ok=True)
    for tool in SHIMMED:
        real = shutil.which(tool)
        if real is None:
            raise SystemExit(f"bench_sweep: {tool} not found: start the dev cluster (cluster/dev/start)")
        shim = folder / tool
        shim.write_text(f'#!/bin/sh\necho "$(date +%s) {tool}" >> "{log}"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)


def sweep_config(path: Path, folds: int, poll_s: float) -> Path:
    """The tiny sweep with ``folds`` folds (4 targets x folds/4 variants), its jobs held pending."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["datasets"]["digits-dg-mini"]["targets"] = "all"
    config["sweep"]["variants"] = [{"method": "erm", "tag": f"v{index}"} for index in range(folds // 4)]
    config["launch"].update(poll_s=poll_s, extra_sbatch=["--begin=now+2hours"])
    path.write_text(yaml.safe_dump(config))
    return path


def fold_jobs(runs: Path) -> dict[Path, str]:
    """Run folder -> the job id of its latest attempt."""
    jobs = {}
    for record in runs.rglob("launch.json"):
        jobs[record.parent] = json.loads(record.read_text())["attempts"][-1]["job_id"]
    return jobs


def queued_ids() -> set[str]:
    """Ids (array tasks expanded) of every pending or running job."""
    out = subprocess.run(["squeue", "-h", "-r", "-t", "PD,R", "-o", "%i"], capture_output=True, text=True).stdout
    return set(out.split())


def _cwd(proc: Path) -> Path | None:
    try:
        return Path(os.readlink(proc / "cwd"))
    except OSError:
        return None


def process_tree(root: int, folder: Path) -> list[tuple[int, int]]:
    """(pid, RSS in kB) of ``root``, its descendants and the pollers of ``folder`` (own sessions)."""
    children: dict[int, list[int]] = {}
    pollers = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(proc.name))
        if "cluster.poller" in cmdline and folder.name in cmdline and _cwd(proc) == folder.parents[1]:
            pollers.append(int(proc.name))
    pids, todo = set(), [root, *pollers]
    while todo:
        pid = todo.pop()
        if pid not in pids:
            pids.add(pid)
            todo += children.get(pid, [])
    tree = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")]
        tree.append((pid, int(rss[0]) if rss else 0))
    return tree


def calls(log: Path, since: float, until: float) -> dict[str, int]:
    counts = dict.fromkeys(SHIMMED, 0)
    if log.is_file():
        for line in log.read_text().splitlines():
            stamp, tool = line.split()
            if since <= int(stamp) <= until:
                counts[tool] += 1
    return counts


def run_size(workdir: Path, folds: int, args, shims: Path, log: Path) -> dict:
    """Launch the sweep of ``folds`` folds, sample it once all are queued, stop it; its figures."""
    config = sweep_config(workdir / f"sweep-{folds}.yaml", folds, args.poll_s)
    runs = workdir / "results" / "runs"
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    command = [str(SNAKEMAKE), "--profile", "slurm", "--directory", str(workdir), "--configfile", str(config),
               "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
    started = time.time()
    with open(workdir / f"snakemake-{folds}.log", "w") as out:
        snakemake = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # its own process group, as in a terminal
    try:
        deadline = time.monotonic() + args.queue_timeout_s
        while True:
            queued = queued_ids()
            in_queue = sum(job in queued for job in fold_jobs(runs).values())
            if in_queue >= folds or time.monotonic() > deadline or snakemake.poll() is not None:
                break
            time.sleep(5)
        full_after = time.time() - started
        print(f"{folds} folds: {in_queue} in the queue after {full_after:.0f} s", flush=True)
        window_start, samples = time.time(), []
        while time.time() - window_start < args.sample_s:
            tree = process_tree(snakemake.pid, workdir / "results" / "submitit")
            samples.append((len(tree), sum(rss for _, rss in tree)))
            time.sleep(5)
        window = calls(log, int(window_start), int(time.time()))
        minutes = (time.time() - window_start) / 60
    finally:
        stop = time.monotonic()
        os.killpg(snakemake.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        try:
            snakemake.wait(timeout=300)
        except subprocess.TimeoutExpired:
            snakemake.kill()
        exit_s = time.monotonic() - stop
        arrays = sorted({job.split("_")[0] for job in fold_jobs(runs).values()})
        if arrays:
            subprocess.run(["scancel", *arrays], check=False)
    return {
        "folds": folds, "in_queue": in_queue, "queue_full_s": full_after,
        "processes": max(n for n, _ in samples), "rss_mb": max(rss for _, rss in samples) / 1024,
        "sbatch_total": calls(log, int(started), int(time.time()))["sbatch"],
        "sacct_per_min": window["sacct"] / minutes, "squeue_per_min": window["squeue"] / minutes,
        "sigint_exit_s": exit_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, nargs=2, default=[48, 200], metavar=("SMALL", "LARGE"))
    parser.add_argument("--sample-s", type=float, default=60, help="sampling window once the queue is full")
    parser.add_argument("--poll-s", type=float, default=10, help="the sweep's launch.poll_s")
    parser.add_argument("--queue-timeout-s", type=float, default=900, help="give up waiting for a full queue")
    parser.add_argument("--workdir", type=Path, help="working directory (default: a new temporary one)")
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-sweep-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    shims, log = workdir / "shims", workdir / "calls.log"
    write_shims(shims, log)
    results = [run_size(workdir, folds, args, shims, log) for folds in args.folds]
    keys = ["in_queue", "queue_full_s", "processes", "rss_mb", "sbatch_total", "sacct_per_min", "squeue_per_min",
            "sigint_exit_s"]
    small, large = results
    print(f"\n{'':<16}" + "".join(f"{r['folds']:>12} folds" for r in results) + f"{'ratio':>12}")
    for key in keys:
        ratio = large[key] / small[key] if small[key] else float("nan")
        print(f"{key:<16}" + "".join(f"{r[key]:>18.1f}" for r in results) + f"{ratio:>12.2f}")
    print(f"(workdir {workdir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
