"""The search tests use tests/workflow's helpers (configs, Snakemake) and tests/results' result files."""

from __future__ import annotations

import sys
from pathlib import Path

for helpers in ("workflow", "results", "train"):  # workflow_helpers, result_files
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / helpers))
