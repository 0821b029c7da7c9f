"""Evaluation figures beyond top-1: balanced and per-class accuracy, the target's held-out part, the
records a real fold writes, per_class.parquet (read with DuckDB) and the optional TensorBoard run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from fixclr.config import ConfigError
from fixclr.metrics import balanced, holdout_mask, per_class, top1
from fixclr.results.aggregate import write_tables
from fixclr.train import run_fold


def test_balanced_accuracy_on_an_imbalanced_example():
    # class 0: 90 images, 90 right; class 1: 10 images, 1 right; class 2: no image (left out)
    confusion = [[90, 0, 0], [9, 1, 0], [0, 0, 0]]
    assert top1(confusion) == pytest.approx(91.0)
    assert balanced(confusion) == pytest.approx((100.0 + 10.0) / 2)
    correct, count = per_class(confusion)
    assert correct.tolist() == [90, 1, 0] and count.tolist() == [90, 10, 0]


def test_target_holdout_is_deterministic_and_stratified():
    labels = np.repeat([0, 1, 2], [50, 30, 7])
    mask = holdout_mask(labels, "digits-dg-mini/mono")
    assert [int(mask[labels == c].sum()) for c in range(3)] == [10, 6, 1]
    assert (mask == holdout_mask(labels, "digits-dg-mini/mono")).all()
    assert (mask != holdout_mask(labels, "digits-dg-mini/photo")).any()


@pytest.fixture
def trained(fold_cfg, tmp_path):
    """A real 4-step fixmatch fold evaluated at steps 2 and 4, in the runs layout of a sweep."""
    run_dir = tmp_path / "results" / "runs" / "digits-dg-mini" / "cnn" / "fixmatch" / "mono" / "n10" / "s0"
    run_fold({**fold_cfg, "steps": 4, "eval_every": 2, "checkpoint_every": 2, "out_dir": str(run_dir)})
    return run_dir


def test_records_hold_balanced_accuracy_the_held_out_part_and_the_confusion(trained, fold_cfg):
    images = json.loads(Path(fold_cfg["manifest"]).read_text())["domains"]["mono"]["count"]
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for record in records:
        confusion = np.array(record["target_confusion"])
        assert confusion.shape == (10, 10) and confusion.sum() == images  # every image of mono
        assert record["target_acc"] == pytest.approx(top1(confusion))
        assert record["target_balanced_acc"] == pytest.approx(balanced(confusion))
        assert set(record["val_balanced_acc"]) == {"color", "photo", "rotated"}
        assert record["val_balanced_acc_mean"] == pytest.approx(np.mean(list(record["val_balanced_acc"].values())))
        assert 0.0 <= record["target_val_acc"] <= 100.0 and 0.0 <= record["target_val_balanced_acc"] <= 100.0
    per_class_file = json.loads((trained / "per_class.json").read_text())
    best = max(records, key=lambda r: r["val_acc_mean"])
    assert per_class_file["step"] == best["step"] and per_class_file["confusion"] == best["target_confusion"]
    assert per_class_file["classes"] == [str(c) for c in range(10)] and sum(per_class_file["count"].values()) == images


def test_per_class_parquet_has_one_row_per_fold_and_class_and_duckdb_reads_it(trained):
    runs = trained.parents[5]
    paths = write_tables(runs, runs.parent / "tables")
    per_class_path = runs.parent / "tables" / "per_class.parquet"
    assert per_class_path in paths
    rows = duckdb.sql(f"SELECT fold_id, class, accuracy, count, correct, predicted FROM '{per_class_path}' "
                      "WHERE rule = 'val' AND metric = 'top1' ORDER BY class_index").df()
    assert len(rows) == 10 and rows["fold_id"].nunique() == 1 and rows["class"].tolist() == [str(c) for c in range(10)]
    stored = json.loads((trained / "per_class.json").read_text())
    assert rows["count"].tolist() == list(stored["count"].values())
    assert rows["accuracy"].tolist() == pytest.approx([stored["accuracy"][c] for c in rows["class"]])
    assert [sum(p) for p in rows["predicted"]] == rows["count"].tolist()
    counts = duckdb.sql(f"SELECT count(*) FROM '{per_class_path}' GROUP BY rule, metric").fetchall()
    assert counts == [(10,)] * 6  # 3 rules x 2 metrics, each choosing this fold's step


def test_tensorboard_run_holds_the_records(fold_cfg, tmp_path):
    pytest.importorskip("tensorboard", reason="logging: tensorboard needs the optional tensorboard package")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = Path(tmp_path / "run")
    run_fold({**fold_cfg, "steps": 4, "eval_every": 2, "logging": "tensorboard"})
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in events.Scalars("target_acc")] == [2, 4]
    assert [e.value for e in events.Scalars("target_acc")] == pytest.approx([r["target_acc"] for r in records], abs=1e-4)
    assert "val_acc/color" in events.Tags()["scalars"]


def test_tensorboard_missing_is_a_config_error(fold_cfg, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were not installed
    with pytest.raises(ConfigError, match="needs the tensorboard package"):
        run_fold({**fold_cfg, "logging": "tensorboard"})
