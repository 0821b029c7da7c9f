"""benchmarks/gpu_check.py --dry-run: the GPU check's plan runs end to end on CPU, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~80 s of CPU (subprocess folds, torchrun), ~4 min on the loaded 2-core box
def test_gpu_check_dry_run_passes_every_stage(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--work", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout.split("== report")[1]
    assert "8/8 stages ok" in report
    for stage in ("gpu-marked tests", "demo fold bf16", "demo fold fp16", "kill and resume", "torchrun gloo",
                  "ResNet-50 eager", "ResNet-50 compiled"):
        assert f"ok   {stage}" in report, stage
    assert "max accuracy difference 0.00" in report  # the CPU resume is exact
