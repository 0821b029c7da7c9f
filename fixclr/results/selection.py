"""Model selection after training, from the records: every finished fold's ``metrics.jsonl``.

An *experiment* is one (dataset, variant, backbone, pretrained, labels_per_class, target domain,
seed); with a hyperparameter search it has one fold per trial, each with an evaluation every
``eval_every`` steps. A selection rule picks one (trial, step) of an experiment from those
evaluations without retraining anything; the reported value is the target-domain figure (all its
images) at that step. Rules (docs/selection.md has their exact definitions):

- ``val``, training-domain validation (the default): the (trial, step) with the best mean
  source-validation figure over every trial and step;
- ``last``: the last step of the default trial (trial 0);
- ``oracle``: per trial its last step, the trial with the best figure on the target domain's
  held-out part (``target_val_*``, DomainBed's oracle); an upper bound, never a result.

Ties go to the earliest trial, then the earliest step. ``metric`` chooses the figure both for
choosing and for reporting: ``top1`` accuracy or ``balanced`` (mean per-class) accuracy.
A new rule is a function ``(evaluations of one experiment, figure columns) -> chosen row label``
added to ``RULES``.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

# Figure columns of an evaluation row (metrics.jsonl keys) per metric.
METRICS = {
    "top1": {"target": "target_acc", "source_val": "val_acc_mean", "target_val": "target_val_acc"},
    "balanced": {"target": "target_balanced_acc", "source_val": "val_balanced_acc_mean",
                 "target_val": "target_val_balanced_acc"},
}
FIGURE_COLUMNS = sorted({column for columns in METRICS.values() for column in columns.values()})
EXPERIMENT_COLUMNS = ["dataset", "variant", "ssl_method", "regularizer", "regularizer_settings", "backbone",
                      "pretrained", "labels_per_class", "target_domain", "seed"]
ORDER = ["trial", "step"]  # ties: earliest trial, then earliest step


def _best(rows: pd.DataFrame, column: str):
    """Label of the row with the largest ``column`` (first in ``ORDER`` among ties); None if all missing."""
    rows = rows.sort_values(ORDER)
    values = rows[column].dropna()
    return None if values.empty else values.idxmax()


def training_domain_validation(evaluations: pd.DataFrame, columns: dict):
    """The (trial, step) with the best mean source-validation figure, over every trial and step."""
    return _best(evaluations, columns["source_val"])


def last_step_of_default_trial(evaluations: pd.DataFrame, columns: dict):
    """The last evaluation of trial 0 (the sweep's own settings)."""
    default = evaluations[evaluations["trial"] == 0]
    return None if default.empty else default["step"].idxmax()


def target_holdout_oracle(evaluations: pd.DataFrame, columns: dict):
    """Per trial its last step; the trial whose last step is best on the target's held-out part."""
    last = evaluations.loc[evaluations.groupby("trial")["step"].idxmax()]
    return _best(last, columns["target_val"])


RULES: dict[str, Callable] = {
    "val": training_domain_validation,
    "last": last_step_of_default_trial,
    "oracle": target_holdout_oracle,
}
RULE_NAMES = {
    "val": "training-domain validation (best mean source-validation step over every trial)",
    "last": "last step of the default trial",
    "oracle": "oracle (last step, trial best on a held-out 20 % of the target domain; an upper bound only)",
}


def select(evaluations: pd.DataFrame, rule: str = "val", metric: str = "top1") -> pd.DataFrame:
    """One row per experiment: the chosen evaluation row (its ``fold_id``, ``trial``, ``step``, ...),
    ``value`` (the target figure there) and ``criterion`` (the figure the rule chose on), plus
    ``rule``, ``metric`` and ``trials_done`` (trials of the experiment found in the records).
    Experiments where the rule has nothing to choose from (e.g. old records without the figure)
    get no row."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; known: {', '.join(RULES)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    columns = METRICS[metric]
    criterion = {"val": columns["source_val"], "oracle": columns["target_val"]}.get(rule, columns["target"])
    chosen, trials = [], []
    for _, experiment in evaluations.groupby(EXPERIMENT_COLUMNS, sort=True, dropna=False):
        label = RULES[rule](experiment, columns)
        if label is not None and pd.notna(experiment.at[label, columns["target"]]):
            chosen.append(label)
            trials.append(experiment["trial"].nunique())
    rows = evaluations.loc[chosen].reset_index(drop=True)
    return rows.assign(rule=rule, metric=metric, value=rows[columns["target"]], criterion=rows[criterion],
                       trials_done=trials)


def select_all(evaluations: pd.DataFrame) -> pd.DataFrame:
    """``select`` under every rule and metric, stacked."""
    frames = [select(evaluations, rule, metric) for metric in METRICS for rule in RULES]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def wide(selected: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """Per experiment one row with ``acc_<rule>``, ``trial_<rule>`` and ``step_<rule>`` columns."""
    table = None
    for rule in RULES:
        rows = selected[(selected["rule"] == rule) & (selected["metric"] == metric)]
        rows = rows[EXPERIMENT_COLUMNS + ["value", "trial", "step"]].rename(
            columns={"value": f"acc_{rule}", "trial": f"trial_{rule}", "step": f"step_{rule}"})
        table = rows if table is None else table.merge(rows, on=EXPERIMENT_COLUMNS, how="outer")
    return table.sort_values(EXPERIMENT_COLUMNS, ignore_index=True)
