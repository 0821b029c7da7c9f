"""The unlabeled loss's weight ramps linearly from 0 over ``unlabeled_warmup_fraction`` of the steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixclr.train import run_fold


def test_unlabeled_loss_weight_ramps_up_and_enters_the_total_loss(fold_cfg):
    run_fold({**fold_cfg, "method": "fixmatch", "threshold": 0.0, "steps": 4, "eval_every": 1,
              "unlabeled_warmup_fraction": 0.5})
    records = [json.loads(line) for line in (Path(fold_cfg["out_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert [r["unlabeled_weight"] for r in records] == [0.0, 0.5, 1.0, 1.0]  # step s trains with weight (s-1)/2
    for r in records:
        assert r["loss_unlabeled"] > 0.0  # threshold 0: every pseudo-label is used
        assert r["loss"] == pytest.approx(r["loss_labeled"] + r["unlabeled_weight"] * r["loss_unlabeled"], rel=1e-6)


def test_erm_logs_no_unlabeled_weight(fold_cfg):
    run_fold({**fold_cfg, "method": "erm", "unlabeled_warmup_fraction": 0.5})
    (record,) = [json.loads(line) for line in (Path(fold_cfg["out_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert record["unlabeled_weight"] == 0.0


def test_freematch_fairness_term_is_outside_the_unlabeled_warmup(fold_cfg):
    """As in USB, the warm-up scales FreeMatch's masked cross-entropy but not its fairness term."""
    run_fold({**fold_cfg, "method": "freematch", "steps": 2, "eval_every": 1, "unlabeled_warmup_fraction": 1.0,
              "freematch": {"ema_decay": 0.999, "fairness_weight": 1.0}})
    records = [json.loads(line) for line in (Path(fold_cfg["out_dir"]) / "metrics.jsonl").read_text().splitlines()]
    first = records[0]
    assert first["unlabeled_weight"] == 0.0 and first["loss_unlabeled"] > 0.0
    fairness = first["loss"] - first["loss_labeled"]  # the only term left at weight 0 (no regularizer)
    assert fairness < -1e-3  # L_f = -H(...) < 0 whenever some pseudo-label is trusted
