"""Aggregation: hand-written result.json files -> folds.parquet and summary.parquet, math checked."""

from __future__ import annotations

import json
import math
import statistics

import pandas as pd
import pytest
from result_files import DOMAINS, write_fold

from fixclr.results.aggregate import ResultError, write_tables


def tables(runs):
    folds_path, summary_path, *_ = write_tables(runs, runs.parent / "tables")
    summary = pd.read_parquet(summary_path)
    return pd.read_parquet(folds_path), summary[summary["metric"] == "top1"].reset_index(drop=True)


def test_folds_rows_are_the_done_result_files(runs):
    for seed in range(3):
        write_fold(runs, "fixmatch+fixclr", "mono", seed, 70.0 + seed)
    write_fold(runs, "erm", "mono", 0, 40.0, done=False)  # still training: not a row
    folds, _ = tables(runs)
    assert list(folds["fold_id"]) == [f"digits-dg-mini/cnn/fixmatch+fixclr/mono/n10/s{s}" for s in range(3)]
    for _, row in folds.iterrows():
        result = json.loads((runs / row["fold_id"] / "result.json").read_text())
        for key in ("dataset", "target_domain", "ssl_method", "regularizer", "backbone", "pretrained",
                    "labels_per_class", "seed", "acc_last", "acc_val", "acc_oracle", "steps", "wall_s",
                    "images_per_s", "gpus", "world_size", "git_commit", "config_hash"):
            assert row[key] == result[key], key
        assert row["source_domains"] == "color,photo,rotated"
        assert json.loads(row["regularizer_settings"]) == {"lambda": 0.1, "temperature": 0.2}
        assert row["variant"] == "fixmatch+fixclr"


def test_the_variant_is_the_one_result_json_names_not_its_folder(runs):
    path = write_fold(runs, "fixmatch+fixclr", "mono", 0, 70.0) / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "variant": "fixmatch+fixclr-lambda=0.3"}))
    folds, summary = tables(runs)
    assert list(folds["variant"]) == ["fixmatch+fixclr-lambda=0.3"]
    assert set(summary["variant"]) == {"fixmatch+fixclr-lambda=0.3"}


def test_a_result_json_without_variant_is_an_error_naming_it(runs):
    path = write_fold(runs, "fixmatch", "mono", 0, 70.0) / "result.json"
    result = json.loads(path.read_text())
    del result["variant"]
    path.write_text(json.dumps(result))
    with pytest.raises(ResultError, match="result.json lacks variant"):
        tables(runs)


def test_legacy_result_json_without_result_format_takes_the_variant_folder(runs):
    """result.json before result_format 2: its variant lacked the sweep's tag (the trainer's own name);
    the legacy fallback (aggregate.legacy_variant) reads the run folder's variant level instead."""
    path = write_fold(runs, "fixmatch-steps=400", "mono", 0, 70.0) / "result.json"
    result = json.loads(path.read_text())
    del result["result_format"]
    path.write_text(json.dumps({**result, "variant": "fixmatch"}))
    write_fold(runs, "fixmatch", "mono", 0, 60.0)
    folds, _ = tables(runs)
    assert list(folds["variant"]) == ["fixmatch-steps=400", "fixmatch"]


def test_summary_mean_std_count_over_seeds_and_avg_over_targets(runs):
    accuracy = {(t, s): 50.0 + 3 * i + s * s for i, t in enumerate(DOMAINS) for s in range(3)}
    for (target, seed), acc in accuracy.items():
        write_fold(runs, "fixmatch", target, seed, acc)
    _, summary = tables(runs)
    rows = summary.set_index("target_domain")
    for target in DOMAINS:
        values = [accuracy[target, s] for s in range(3)]
        assert rows.loc[target, "acc_last_mean"] == pytest.approx(statistics.mean(values))
        assert rows.loc[target, "acc_last_std"] == pytest.approx(statistics.stdev(values))
        assert rows.loc[target, "acc_val_mean"] == pytest.approx(statistics.mean(values) - 1.0)
        assert rows.loc[target, "count"] == 3
    seed_averages = [statistics.mean(accuracy[t, s] for t in DOMAINS) for s in range(3)]
    assert rows.loc["avg", "acc_last_mean"] == pytest.approx(statistics.mean(seed_averages))
    assert rows.loc["avg", "acc_last_std"] == pytest.approx(statistics.stdev(seed_averages))
    # oracle from the records: the last step of the trial best on the target's held-out part (one trial)
    assert rows.loc["avg", "acc_oracle_mean"] == pytest.approx(statistics.mean(seed_averages))
    assert rows.loc["avg", "count"] == 3


def test_avg_row_uses_only_seeds_with_every_target(runs):
    for target in DOMAINS:
        write_fold(runs, "erm", target, 0, 40.0)
        write_fold(runs, "erm", target, 1, 44.0, done=target != "photo")
    _, summary = tables(runs)
    avg = summary[summary["target_domain"] == "avg"].iloc[0]
    assert (avg["acc_last_mean"], avg["count"]) == (40.0, 1)
    assert math.isnan(avg["acc_last_std"])  # one seed: no spread to report
    photo = summary[summary["target_domain"] == "photo"].iloc[0]
    assert photo["count"] == 1


def test_experiments_are_kept_apart(runs):
    write_fold(runs, "fixmatch", "mono", 0, 70.0)
    write_fold(runs, "fixmatch", "mono", 0, 80.0, labels=5)
    write_fold(runs, "fixmatch-lam0.5", "mono", 0, 60.0)
    _, summary = tables(runs)
    per_target = summary[summary["target_domain"] == "mono"]
    assert sorted(zip(per_target["variant"], per_target["labels_per_class"], per_target["acc_last_mean"])) == [
        ("fixmatch", 5, 80.0), ("fixmatch", 10, 70.0), ("fixmatch-lam0.5", 10, 60.0)]


def test_tables_are_rebuilt_from_the_run_folders(runs):
    write_fold(runs, "erm", "mono", 0, 40.0)
    stale = write_fold(runs, "erm", "mono", 1, 42.0)
    assert len(tables(runs)[0]) == 2
    (stale / "done").unlink()
    folds, summary = tables(runs)
    assert list(folds["seed"]) == [0]
    assert list(summary.loc[summary["target_domain"] == "mono", "count"]) == [1]
    assert sorted(p.name for p in (runs.parent / "tables").iterdir()) == [
        "evaluations.parquet", "folds.parquet", "per_class.parquet", "selected.parquet", "summary.parquet"]


def test_empty_runs_folder_gives_empty_tables(runs):
    folds, summary = tables(runs)
    assert len(folds) == 0 and len(summary) == 0
    assert {"acc_last", "fold_id"} <= set(folds.columns)


def test_result_without_a_key_is_named(runs):
    run_dir = write_fold(runs, "erm", "mono", 0, 40.0)
    result = json.loads((run_dir / "result.json").read_text())
    del result["acc_oracle"]
    (run_dir / "result.json").write_text(json.dumps(result))
    with pytest.raises(ResultError, match=r"erm/mono/n10/s0/result.json: result.json lacks acc_oracle"):
        write_tables(runs, runs.parent / "tables")
