"""Model selection from hand-built records (two trials, three evaluations each): every rule's choice
and value against a hand computation, ties, metrics, and the tables that name the selected trial."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from result_files import write_fold

from fixclr.results.aggregate import write_tables
from fixclr.results.cli import results_main
from fixclr.results.selection import RULES, select
from fixclr.results.tables import paper_tables, selected_trials

STEPS = (10, 20, 30)
# trial -> per step (source val, target, target held-out part, source val balanced, target balanced)
RECORDS = {
    0: [(50.0, 40.0, 41.0, 50.0, 30.0), (70.0, 55.0, 50.0, 80.0, 45.0), (60.0, 52.0, 49.0, 60.0, 42.0)],
    1: [(65.0, 45.0, 46.0, 65.0, 35.0), (72.0, 58.0, 57.0, 72.0, 48.0), (71.0, 61.0, 62.0, 71.0, 51.0)],
}
HPARAMS = {0: {"lr": 0.03, "threshold": 0.95}, 1: {"lr": 0.0123, "threshold": 0.8841}}
# By hand: val = best source val over both trials: 72 at (t1, 20) -> 58; last = (t0, 30) -> 52;
# oracle = last steps' held-out part 49 (t0) vs 62 (t1) -> (t1, 30) -> 61. Balanced: val picks the
# best balanced source val, 80 at (t0, 20) -> 45; last (t0, 30) -> 42; oracle on target_val_balanced
# (= held-out top-1 - 10 here): t1 -> 51.
EXPECTED = {
    ("val", "top1"): (1, 20, 58.0), ("last", "top1"): (0, 30, 52.0), ("oracle", "top1"): (1, 30, 61.0),
    ("val", "balanced"): (0, 20, 45.0), ("last", "balanced"): (0, 30, 42.0), ("oracle", "balanced"): (1, 30, 51.0),
}


def records(trial: int, shift: float = 0.0) -> list[dict]:
    return [{"step": step, "val_acc_mean": val, "target_acc": target + shift, "target_val_acc": held_out,
             "val_balanced_acc_mean": val_balanced, "target_balanced_acc": balanced + shift,
             "target_val_balanced_acc": held_out - 10.0}
            for step, (val, target, held_out, val_balanced, balanced) in zip(STEPS, RECORDS[trial])]


@pytest.fixture
def searched(runs):
    """fixmatch on mono, seeds 0 and 1 (seed 1's targets 5 points higher), two trials each, plus a
    tie: erm on mono seed 0 whose two trials have equal records."""
    for seed in (0, 1):
        for trial in (0, 1):
            write_fold(runs, "fixmatch", "mono", seed, 0.0, trial=trial, trials=2, hparams=HPARAMS[trial],
                       records=records(trial, shift=5.0 * seed))
    for trial in (0, 1):
        write_fold(runs, "erm", "mono", 0, 0.0, trial=trial, trials=2, hparams={"lr": 0.03}, records=records(0))
    paths = write_tables(runs, runs.parent / "tables")
    return {path.stem: pd.read_parquet(path) for path in paths}


def test_every_rule_chooses_the_hand_computed_trial_step_and_value(searched):
    selected = searched["selected"]
    for (rule, metric), (trial, step, value) in EXPECTED.items():
        for seed in (0, 1):
            (row,) = selected[(selected["rule"] == rule) & (selected["metric"] == metric)
                              & (selected["variant"] == "fixmatch") & (selected["seed"] == seed)].itertuples()
            assert (row.trial, row.step, row.value) == (trial, step, value + 5.0 * seed), (rule, metric, seed)
            assert row.fold_id == f"digits-dg-mini/cnn/fixmatch/t{trial}/mono/n10/s{seed}"
            assert json.loads(row.hparams) == HPARAMS[trial] and row.trials_done == 2
    assert set(selected["rule"]) == set(RULES)


def test_ties_go_to_the_earliest_trial_then_step(searched):
    selected = searched["selected"]
    erm = selected[(selected["variant"] == "erm") & (selected["metric"] == "top1")].set_index("rule")
    assert (erm.loc["val", "trial"], erm.loc["val", "step"]) == (0, 20)
    assert (erm.loc["oracle", "trial"], erm.loc["oracle", "step"]) == (0, 30)


def test_summary_is_the_mean_over_seeds_of_the_selected_values(searched):
    summary = searched["summary"]
    row = summary[(summary["variant"] == "fixmatch") & (summary["target_domain"] == "mono")
                  & (summary["metric"] == "top1")].iloc[0]
    assert row["acc_val_mean"] == pytest.approx(58.0 + 2.5)
    assert row["acc_last_mean"] == pytest.approx(52.0 + 2.5)
    assert row["acc_oracle_mean"] == pytest.approx(61.0 + 2.5)
    assert row["count"] == 2
    (table,) = paper_tables(summary, "val", "balanced").values()
    assert table.loc["fixmatch", "mono"] == "47.5 ± 3.5"  # 45 and 50


def test_a_new_rule_needs_no_retraining(searched):
    """A rule is a function of the records: here 'best target step of the default trial'."""
    RULES["best_default_target"] = lambda rows, columns: rows[rows["trial"] == 0][columns["target"]].idxmax()
    try:
        chosen = select(searched["evaluations"], "best_default_target")
    finally:
        del RULES["best_default_target"]
    fixmatch = chosen[(chosen["variant"] == "fixmatch") & (chosen["seed"] == 0)].iloc[0]
    assert (fixmatch["trial"], fixmatch["step"], fixmatch["value"]) == (0, 20, 55.0)


def test_tables_name_the_selected_trial_per_method_target_and_seed(searched, runs, monkeypatch, capsys):
    table = selected_trials(searched["selected"])
    assert table.loc["fixmatch", "trial"].tolist() == ["t1", "t1"]
    assert table.loc["fixmatch", "hyperparameters"].tolist() == ["lr=0.0123, threshold=0.8841"] * 2
    monkeypatch.chdir(runs.parent.parent)
    assert results_main(["--tables", str(runs.parent / "tables"), "--selection", "val"]) == 0
    out = capsys.readouterr().out
    assert "Selected trials (val, top1)" in out
    assert "| fixmatch | mono | 0 | t1 | 2 | 20 | 58.0 | lr=0.0123, threshold=0.8841 |" in out
    assert "| fixmatch | mono | 1 | t1 | 2 | 20 | 63.0 | lr=0.0123, threshold=0.8841 |" in out


def test_unknown_rule_or_metric_is_named(searched):
    with pytest.raises(ValueError, match="unknown selection rule 'best'; known: val, last, oracle"):
        select(searched["evaluations"], "best")
    with pytest.raises(ValueError, match="unknown metric 'top5'"):
        select(searched["evaluations"], "val", "top5")
