"""Fixtures of the experiment-grid tests; the Snakemake helpers are tests/workflow's own."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))  # workflow_helpers
