"""Precision selection, CPU autocast, the gradient scaler's checkpoint round trip, TF32 switches.

The CUDA side (bf16/fp16 folds on a real device) is in tests/gpu; here the device capability
is passed in, and CPU autocast and ``torch.amp.GradScaler("cpu")`` run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fixclr.checkpoint import load_checkpoint, save_checkpoint
from fixclr.config import ConfigError, resolve
from fixclr.data.loader import load_fold
from fixclr.engine import Trainer
from fixclr.precision import select_precision, set_tf32
from fixclr.train import run_fold

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("requested", "device_type", "has_bf16", "expected"),
    [
        ("auto", "cuda", True, "bf16"),  # A100, H100, RTX 30xx+
        ("auto", "cuda", False, "fp16"),  # V100, T4: fp16 with a gradient scaler
        ("auto", "cpu", False, "fp32"),
        ("fp16", "cuda", True, "fp16"),
        ("fp32", "cuda", True, "fp32"),
        ("bf16", "cpu", False, "bf16"),  # CPU autocast
    ],
)
def test_precision_selection_per_device_capability(requested, device_type, has_bf16, expected):
    assert select_precision(requested, device_type, has_bf16) == expected


def test_bf16_on_a_cuda_device_without_it_and_bf16_with_float64_are_refused(fold_cfg):
    with pytest.raises(ValueError, match="bf16 is not supported by this CUDA device"):
        select_precision("bf16", "cuda", has_bf16=False)
    with pytest.raises(ConfigError, match="'dtype: float64' and 'precision: fp16' do not combine"):
        resolve({**fold_cfg, "dtype": "float64", "precision": "fp16"})
    with pytest.raises(ConfigError, match="'precision' must be one of auto, bf16, fp16, fp32"):
        resolve({**fold_cfg, "precision": "int8"})


def test_cpu_bf16_autocast_trains_with_float32_weights_and_losses(fold_cfg):
    cfg = resolve({**fold_cfg, "precision": "bf16", "regularizer": "fixclr"})
    trainer = Trainer(cfg, load_fold(cfg), CPU)
    with trainer.autocast:
        logits, z = trainer.model(torch.rand(2, 3, 32, 32))
    assert logits.dtype == torch.bfloat16 and z.dtype == torch.float32  # FixCLR embeddings kept in fp32
    before = trainer.model.classifier.weight.detach().clone()
    trainer.train_step()
    figures = trainer.step_figures()
    assert all(torch.isfinite(torch.tensor(v)) for v in figures.values()) and figures["loss_fixclr"] > 0
    assert trainer.model.classifier.weight.dtype == torch.float32
    assert not torch.equal(trainer.model.classifier.weight, before)
    assert not trainer.scaler.is_enabled()  # bf16 needs no scaler


def test_fp16_scaler_state_round_trips_through_a_checkpoint(fold_cfg, tmp_path):
    cfg = resolve({**fold_cfg, "precision": "fp16"})
    trainer = Trainer(cfg, load_fold(cfg), CPU)
    assert trainer.scaler.is_enabled() and trainer.precision == "fp16"
    trainer.train_step()
    trainer.scaler.update(new_scale=1024.0)  # as after backing off from an overflow
    trainer.train_step()
    saved = trainer.scaler.state_dict()
    assert saved["scale"] == 1024.0 and saved["_growth_tracker"] == 2  # two steps without overflow
    save_checkpoint(tmp_path / "checkpoint.pt", {"trainer": trainer.state_dict()}, "hash")
    fresh = Trainer(cfg, load_fold(cfg), CPU)
    assert fresh.scaler.state_dict()["scale"] == 65536.0  # torch's initial scale
    fresh.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt", "hash")["trainer"])
    assert fresh.scaler.state_dict() == saved


def test_fp16_fold_resumes_exactly(fold_cfg):
    cfg = {**fold_cfg, "precision": "fp16", "steps": 6, "eval_every": 2, "checkpoint_every": 4}
    out = Path(cfg["out_dir"])
    first = run_fold(cfg)
    reference = [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
                 for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["trainer"]["scaler"]["scale"] > 0
    (out / "done").unlink()
    second = run_fold(cfg)
    resumed = [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
               for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert resumed == reference and second["acc_last"] == first["acc_last"]


def test_tf32_switch_sets_the_cuda_matmul_and_cudnn_modes():
    """Global flags only (no CUDA needed to set them); the Trainer sets them on CUDA devices only."""
    matmul = torch.backends.cuda.matmul
    saved = getattr(matmul, "fp32_precision", None), getattr(torch.backends.cudnn.conv, "fp32_precision", None)
    try:
        set_tf32(False)
        assert (matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == ("ieee", "ieee")
        set_tf32(True)
        assert (matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision) == ("tf32", "tf32")
    finally:
        matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = saved
