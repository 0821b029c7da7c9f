"""``fixclr submit``, ``fixclr status`` and ``fixclr resubmit``."""

from __future__ import annotations

import argparse
from collections import Counter

from cluster.folds import LaunchTarget, read_fold, target_from_spec
from cluster.launcher import submit
from cluster.status import STATES, failure_report, fold_statuses

def submit_main(argv: list[str]) -> int:
    """``fixclr submit FOLD_YAML... [--wait]``."""
    parser = argparse.ArgumentParser(
        prog="fixclr submit",
        description="Launch folds: skip done ones, re-attach to pending/running jobs, (re)submit the rest "
                    "(SLURM via submitit, or local processes, per the spec's launch.cluster).")
    parser.add_argument("fold_yamls", nargs="+", metavar="FOLD_YAML", help="a run folder's fold.yaml")
    parser.add_argument("--wait", action="store_true", help="block until every fold ends; exit 1 if one failed")
    args = parser.parse_args(argv)
    return submit(args.fold_yamls, wait=args.wait)


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


def format_table(statuses) -> list[str]:
    """One row per fold: state, run folder, detail, log; then the count of each state."""
    rows = [("STATE", "FOLD", "DETAIL", "LOG")]
    rows += [(s.state, s.target.name, s.detail or "-", str(s.log or "-")) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3] for row in rows]
    counts = Counter(s.state for s in statuses)
    lines.append(f"{len(statuses)} folds: " + ", ".join(f"{counts[state]} {state}" for state in STATES))
    return lines


def status_main(argv: list[str]) -> int:
    """``fixclr status (--sweep CONFIG | FOLD_YAML...)``."""
    parser = argparse.ArgumentParser(
        prog="fixclr status",
        description="State of every fold: done / running / pending / failed (with SLURM's reason and the "
                    "log's last lines) / not started, and its log.")
    _sweep_or_folds(parser)
    args = parser.parse_args(argv)
    statuses = fold_statuses(_targets(args, parser)[0])
    print("\n".join(format_table(statuses) + failure_report(statuses)))
    return 0


def resubmit_main(argv: list[str]) -> int:
    """``fixclr resubmit (--sweep CONFIG | FOLD_YAML...) --failed [--missing] [--wait]``."""
    parser = argparse.ArgumentParser(
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
