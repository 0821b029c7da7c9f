"""``compile: true``: torch.compile of the model gives the same fold within a tolerance, or falls back."""

from __future__ import annotations

import pytest
import torch

from fixclr.precision import compile_unavailable, maybe_compile
from fixclr.train import run_fold

CPU = torch.device("cpu")


@pytest.mark.slow  # inductor compiles C++ kernels: ~1 min of CPU, 4+ min on the loaded 2-core box
@pytest.mark.skipif(compile_unavailable(CPU) is not None, reason=f"torch.compile unavailable: {compile_unavailable(CPU)}")
def test_compiled_fold_gives_the_same_accuracies_within_a_tolerance(fold_cfg, tmp_path):
    """Inductor reorders float32 sums, so weights differ in the last bits: accuracies agree within 1 point
    (at most a few of the ~1000 evaluated images change class after 3 steps)."""
    cfg = {**fold_cfg, "method": "fixmatch", "regularizer": "fixclr"}
    eager = run_fold({**cfg, "out_dir": str(tmp_path / "eager")})
    compiled = run_fold({**cfg, "compile": True, "out_dir": str(tmp_path / "compiled")})
    for key in ("acc_last", "acc_val", "acc_oracle", "val_acc_last"):
        assert compiled[key] == pytest.approx(eager[key], abs=1.0), key


def test_compile_falls_back_with_a_message_where_unavailable(monkeypatch, capsys):
    monkeypatch.setenv("CXX", "no-such-compiler")
    module = torch.nn.Linear(2, 2)
    assert maybe_compile(module, CPU) is module
    assert "compile: true ignored: no C++ compiler (no-such-compiler) on PATH; training uncompiled" in capsys.readouterr().err
