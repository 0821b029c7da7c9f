"""``python -m fixclr.sweep FOLD_YAML SPEC_JSON``: write one fold spec (the workflow's fold_spec rule)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fixclr.errors import run_main
from fixclr.sweep.folds import Fold, write_fold_spec
from fixclr.sweep.load import SLURM_LAUNCH_ENV


def main(argv: list[str] | None = None) -> int:
    """Write ``FOLD_YAML`` from the JSON spec (the fold_spec rule is a shell command, so Snakemake
    does not start a Python process per fold to run it). Under Snakemake's SLURM executor the fold
    gets the launch settings in SLURM_LAUNCH_ENV."""
    fold_yaml, spec_json = sys.argv[1:] if argv is None else argv
    spec = json.loads(spec_json)
    if os.environ.get(SLURM_LAUNCH_ENV):
        spec["launch"] = json.loads(os.environ[SLURM_LAUNCH_ENV])
    write_fold_spec(Fold(run_dir=Path(fold_yaml).parent, spec=spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main("python -m fixclr.sweep", main, sys.argv[1:]))
