"""Every registered SSL method, with and without the FixCLR regularizer, trains 3 steps and predicts.

The parameters come from the live registry, so a method added later is walked automatically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fixclr.config import CHOICES
from fixclr.methods import METHODS
from fixclr.train import run_fold

RESULT_KEYS = {
    "dataset", "target_domain", "source_domains", "ssl_method", "regularizer", "regularizer_settings", "variant",
    "backbone", "pretrained", "labels_per_class", "seed", "acc_last", "acc_val", "acc_oracle", "val_acc_last",
    "best_val_step", "oracle_step", "steps", "wall_s", "images_per_s", "device", "gpus", "world_size", "git_commit",
    "config_hash", "trial", "trials", "hparams", "result_format",
}


@pytest.mark.parametrize("regularizer", CHOICES["regularizer"])
@pytest.mark.parametrize("method", METHODS.names())
def test_method_trains_three_steps_and_predicts(fold_cfg, method, regularizer):
    result = run_fold({**fold_cfg, "method": method, "regularizer": regularizer})
    out = Path(fold_cfg["out_dir"])
    assert json.loads((out / "result.json").read_text()) == result
    assert (out / "done").exists() and (out / "config.yaml").exists()
    assert set(result) == RESULT_KEYS
    assert result["ssl_method"] == method and result["regularizer"] == regularizer and result["steps"] == 3
    assert result["result_format"] == 2  # a hand-written fold config without `variant`: method[+regularizer]
    assert result["variant"] == method + ("" if regularizer == "none" else f"+{regularizer}")
    assert result["source_domains"] == ["color", "photo", "rotated"] and result["labels_per_class"] == 10
    for key in ("acc_last", "acc_val", "acc_oracle", "val_acc_last"):
        assert 0.0 <= result[key] <= 100.0
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert record["step"] == 3 and set(record["val_acc"]) == {"color", "photo", "rotated"}
    assert math.isfinite(record["loss"]) and record["images_per_s"] > 0
    if METHODS.get(method).uses_unlabeled:
        assert 0.0 <= record["mask_rate"] <= 1.0 and 0.0 <= record["pseudo_label_acc_all"] <= 100.0
    else:
        assert record["mask_rate"] is None and record["loss_unlabeled"] == 0.0
    assert (record["loss_fixclr"] > 0.0) == (regularizer == "fixclr")
