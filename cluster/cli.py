"""``fixclr submit``, ``fixclr status`` and ``fixclr resubmit``."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from cluster.folds import LaunchTarget, read_fold, target_from_spec
from cluster.launcher import submit
from cluster.status import STATES, fold_statuses, tail_lines
from fixclr.errors import ArgumentParser


def submit_main(argv: list[str]) -> int:
    """``fixclr submit FOLD_YAML... [--wait]``."""
    parser = ArgumentParser(
        prog="fixclr submit",
        description="Launch folds: skip done ones, re-attach to pending/running jobs, (re)submit the rest "
                    "(SLURM via submitit, or local processes, per the spec's launch.cluster).")
    parser.add_argument("fold_yamls", nargs="+", metavar="FOLD_YAML", help="a run folder's fold.yaml")
    parser.add_argument("--wait", action="store_true", help="block until every fold ends; exit 1 if one failed")
    parser.add_argument("--watch", action="store_true",
                        help="hand the folds to the sweep's poller, which writes a fold's `failed` marker when it "
                             "ends without `done` (the workflow then waits in cluster/await_fold.sh)")
    args = parser.parse_args(argv)
    if args.wait and args.watch:
        parser.error("give --wait or --watch, not both")
    return submit(args.fold_yamls, wait=args.wait, watch=args.watch)


def _sweep_or_folds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", metavar="CONFIG",
                        help="a sweep config (e.g. config/config.yaml): all its folds")
    parser.add_argument("fold_yamls", nargs="*", metavar="FOLD_YAML", help="or explicit fold.yaml files")


def _targets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list[LaunchTarget], list]:
    """The folds named on the command line, and the sweep's Fold objects (empty without --sweep)."""
    if bool(args.sweep) == bool(args.fold_yamls):
        parser.error("give either --sweep CONFIG or FOLD_YAML files")
    if not args.sweep:
        return [read_fold(path) for path in args.fold_yamls], []
    from fixclr.sweep import expand_folds, load_sweep

    folds = expand_folds(load_sweep(args.sweep))
    return [_launched_or_planned(fold) for fold in folds], folds


def _launched_or_planned(fold) -> LaunchTarget:
    """A fold already written to its run folder is taken as it was launched (e.g. with the SLURM
    profile's ``cluster=slurm``), not as the bare config file describes it."""
    path = fold.run_dir / "fold.yaml"
    return read_fold(path) if path.is_file() else target_from_spec(path, fold.spec)


def format_table(statuses, base: Path | None = None) -> list[str]:
    """One short row per fold (state, run folder relative to ``base``, detail), then the failures
    grouped by reason (each group's folds and logs, and the first one's last log lines), then the
    count of each state: the summary comes last, where a long table does not scroll it away."""

    def short(path) -> str:
        path = Path(path)
        return str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)

    rows = [("STATE", "FOLD", "DETAIL")]
    rows += [(s.state, short(s.target.run_dir), s.detail or "-") for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:2], widths)) + "  " + row[2] for row in rows]
    failed: dict[str, list] = {}
    for status in statuses:
        if status.state == "failed":
            failed.setdefault(status.reason, []).append(status)
    for reason, group in sorted(failed.items(), key=lambda item: -len(item[1])):
        lines += ["", f"FAILED, {reason}: {len(group)} fold(s)"]
        lines += [f"  {short(s.target.run_dir)}  log {short(s.log) if s.log else '-'}" for s in group]
        lines += [f"    {line}" for line in tail_lines(group[0].log)]
    counts = Counter(s.state for s in statuses)
    lines += [""] + ([f"run folders under {base}/"] if base else [])
    lines += [f"{len(statuses)} folds: " + ", ".join(f"{counts[state]} {state}" for state in STATES)]
    return lines


def status_main(argv: list[str]) -> int:
    """``fixclr status (--sweep CONFIG | FOLD_YAML...)``."""
    parser = ArgumentParser(
        prog="fixclr status",
        description="State of every fold: done / running / pending / failed (with SLURM's reason and the "
                    "log's last lines, grouped by reason) / not started; the counts come last.")
    _sweep_or_folds(parser)
    args = parser.parse_args(argv)
    targets, folds = _targets(args, parser)
    statuses = fold_statuses(targets)
    # a sweep's run folders are <results_dir>/runs/<dataset>/<backbone>/<variant>/<target>/n<L>/s<S>
    base = folds[0].run_dir.parents[5] if folds else None
    print("\n".join(format_table(statuses, base)))
    return 0


def resubmit_main(argv: list[str]) -> int:
    """``fixclr resubmit (--sweep CONFIG | FOLD_YAML...) --failed [--missing] [--wait]``."""
    parser = ArgumentParser(
        prog="fixclr resubmit",
        description="Resubmit the failed folds (and with --missing the never-started ones); they resume "
                    "from their checkpoints.")
    _sweep_or_folds(parser)
    parser.add_argument("--failed", action="store_true", help="resubmit failed folds")
    parser.add_argument("--missing", action="store_true", help="also submit folds never started")
    parser.add_argument("--wait", action="store_true", help="block until they end; exit 1 if one failed")
    args = parser.parse_args(argv)
    if not (args.failed or args.missing):
        parser.error("say what to resubmit: --failed and/or --missing")
    wanted = {state for state, asked in (("failed", args.failed), ("not started", args.missing)) if asked}

    targets, folds = _targets(args, parser)
    selected = [i for i, status in enumerate(fold_statuses(targets)) if status.state in wanted]
    if folds:
        from fixclr.sweep import write_fold_spec

        for i in selected:
            if not (folds[i].run_dir / "fold.yaml").is_file():
                write_fold_spec(folds[i])
    if not selected:
        print(f"nothing to resubmit ({' or '.join(sorted(wanted))} folds: none)")
        return 0
    return submit([targets[i].fold_yaml for i in selected], wait=args.wait)
