"""The ``fixclr`` command: a thin dispatcher to the subcommands' own modules.

Each subcommand is a function ``main(argv: list[str]) -> int`` in the module that owns it,
imported only when called, so ``fixclr prep`` never imports torch. Every command's user errors
take the one path of ``fixclr.errors.run_main``, a bad command line too (``fixclr.errors.ArgumentParser``).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo-data": ("data_prep.cli:demo_main", "generate the built-in digits-dg-mini image folder"),
    "prep": ("data_prep.cli:prep_main", "ingest one domain (or all) of an image folder into HDF5 shards"),
    "manifest": ("data_prep.cli:manifest_main", "merge per-domain ingest records into manifest.json"),
    "splits": ("data_prep.cli:splits_main", "write a labeled/unlabeled/validation split file"),
    "verify": ("fixclr.data.stamp:main", "check every shard's sha256 once and stamp the dataset verified"),
    "weights": ("fixclr.models.weights:main", "download ImageNet weights of a pretrained backbone (login node)"),
    "train": ("fixclr.train:main", "train and evaluate one LODO fold from a config file"),
    "submit": ("cluster.cli:submit_main", "launch folds (SLURM via submitit, or local processes)"),
    "status": ("cluster.cli:status_main", "state of every fold of a sweep"),
    "resubmit": ("cluster.cli:resubmit_main", "resubmit failed (and --missing) folds"),
    "aggregate": ("fixclr.results.cli:aggregate_main", "rebuild folds.parquet and summary.parquet"),
    "results": ("fixclr.results.cli:results_main", "paper-style table or a DuckDB SQL query"),
    "report": ("fixclr.results.cli:report_main", "summary.md and summary.png"),
    "workflow": ("fixclr.workflow:main", "print the installed Snakefile: snakemake -s $(fixclr workflow) ..."),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: fixclr COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'fixclr COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fixclr`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"fixclr: error: unknown command {name!r} (see 'fixclr --help')", file=sys.stderr)
        return 2
    return run_command(name, rest)


def run_command(name: str, argv: list[str]) -> int:
    """Run subcommand ``name`` through the one error path (fixclr.errors.run_main)."""
    from fixclr.errors import run_main

    def call(args: list[str]) -> int | None:
        module_name, func_name = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), func_name)(args)

    return run_main(f"fixclr {name}", call, argv)


if __name__ == "__main__":
    sys.exit(main())
