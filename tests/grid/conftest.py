"""Settings of the experiment-grid tests; the helpers are tests/workflow's (Snakemake) and
tests/results' (hand-written result.json folders)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
for helpers in ("workflow", "results"):  # workflow_helpers, result_files
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / helpers))
