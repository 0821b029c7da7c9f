"""The sync-free NaN/inf guard: figures stay on the device, the fold stops naming the FIRST bad step.

Steps record a non-finite loss on the device; the check runs only at evaluation and checkpoint
steps, so these tests let bad steps pass unchecked and look at what the check then reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fixclr.config import resolve
from fixclr.data.loader import load_fold
from fixclr.engine import FIGURE_NAMES, NonFiniteLossError, Trainer
from fixclr.train import run_fold


def test_first_non_finite_step_is_recorded_on_the_device_and_reported_later(fold_cfg):
    cfg = resolve({**fold_cfg, "regularizer": "fixclr"})
    trainer = Trainer(cfg, load_fold(cfg), torch.device("cpu"))
    figures = trainer.train_step()  # named figures, left on the device: nothing comes to the host per step
    values = dict(zip(FIGURE_NAMES, [*figures.losses, *figures.counts]))
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in values.values())
    assert values["unlabeled"] == (trainer.sampler.unlabeled_batch if trainer.method.uses_unlabeled else 0)
    trainer.train_step()
    assert trainer.step_figures()["loss"] > 0  # steps 0 and 1 were finite
    with torch.no_grad():
        trainer.model.classifier.weight[0, 0] = float("nan")  # every later loss is NaN
    for _ in range(3):  # steps 2, 3, 4 run without any check
        trainer.train_step()
    assert trainer.first_bad_step.item() == 2 and trainer.first_bad_step.device == trainer.device
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss at step 2: loss=nan"):
        trainer.step_figures()


def _bad_step(cfg: dict) -> int:
    with pytest.raises(NonFiniteLossError) as error:
        run_fold(cfg)
    return int(re.search(r"at step (\d+)", str(error.value)).group(1))


def test_fold_names_the_same_first_step_however_rarely_it_checks_and_keeps_no_later_checkpoint(fold_cfg, tmp_path):
    diverging = {**fold_cfg, "lr": 1e30, "steps": 12}
    every_step = _bad_step({**diverging, "eval_every": 1, "out_dir": str(tmp_path / "every")})
    rarely = _bad_step({**diverging, "eval_every": 12, "checkpoint_every": 12, "out_dir": str(tmp_path / "rarely")})
    assert rarely == every_step < 11
    out = tmp_path / "checkpointing"
    assert _bad_step({**diverging, "eval_every": 12, "checkpoint_every": 1, "out_dir": str(out)}) == every_step
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    assert saved["trainer"]["step"] <= every_step  # written before the bad step ran, never after
    assert all(torch.isfinite(p).all() for p in saved["trainer"]["model"].values() if p.is_floating_point())
    assert (out / "metrics.jsonl").read_text() == "" and not (Path(out) / "result.json").exists()
