"""The CUDA path: precision per device, bf16/fp16 folds, resume, TF32, compile, device-side figures.

Skipped without a CUDA device (none here); benchmarks/gpu_check.py runs them on the first GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixclr.config import resolve
from fixclr.data.loader import load_fold
from fixclr.engine import Trainer
from fixclr.precision import cuda_has_bf16
from fixclr.train import run_fold

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda") if torch.cuda.is_available() else None


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_auto_precision_follows_the_device_and_figures_stay_on_it(fold_cfg):
    cfg = resolve({**fold_cfg, "device": "cuda", "regularizer": "fixclr"})
    trainer = Trainer(cfg, load_fold(cfg).to(CUDA), CUDA)
    assert trainer.precision == ("bf16" if cuda_has_bf16(CUDA) else "fp16")
    assert trainer.scaler.is_enabled() == (trainer.precision == "fp16")
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    trainer.train_step()
    assert trainer.figure_sums.device.type == "cuda" and trainer.first_bad_step.device.type == "cuda"
    assert trainer.step_figures()["loss"] > 0


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_fold_trains_on_cuda(fold_cfg, precision):
    if precision == "bf16" and not cuda_has_bf16(CUDA):
        pytest.skip("this GPU has no bf16")
    result = run_fold({**fold_cfg, "device": "cuda", "precision": precision, "regularizer": "fixclr", "steps": 20,
                       "eval_every": 10, "checkpoint_every": 10})
    assert result["device"] == "cuda" and 0 <= result["acc_last"] <= 100
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in _metrics(Path(fold_cfg["out_dir"])))


def test_cuda_fold_resumes_within_tolerance(fold_cfg):
    """cuDNN picks non-deterministic kernels, so a replay is close, not bitwise."""
    cfg = {**fold_cfg, "device": "cuda", "precision": "fp16", "regularizer": "fixclr", "steps": 20, "eval_every": 10,
           "checkpoint_every": 10}
    out = Path(cfg["out_dir"])
    first = run_fold(cfg)
    scale = torch.load(out / "checkpoint.pt", weights_only=True)["trainer"]["scaler"]["scale"]
    (out / "done").unlink()
    second = run_fold(cfg)
    assert scale > 0 and second["acc_last"] == pytest.approx(first["acc_last"], abs=2.0)


def test_tf32_off_and_compile_on_cuda(fold_cfg):
    result = run_fold({**fold_cfg, "device": "cuda", "tf32": False, "compile": True, "steps": 4, "eval_every": 2})
    assert torch.backends.cuda.matmul.fp32_precision == "ieee" and result["device"] == "cuda"
    torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "tf32"
